package codec

// ConfigError is what an agent publishes on its config.error subject when
// a pushed configuration override is rejected; it keeps running on the
// last good one.
type ConfigError struct {
	Agent    string `json:"agent"`    // site/host
	Key      string `json:"key"`      // the bucket key whose change was rejected
	Revision uint64 `json:"revision"` // its revision in the bucket
	Error    string `json:"error"`
	TS       int64  `json:"ts"` // Unix ms
}

// ConfigLayer is one bucket key's value.
type ConfigLayer struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	Value    string `json:"value"`
}

// ConfigLayers answers a ConfigGetSubject request: the keys of
// ConfigKeys that exist, in that order. Error is set when the bucket could
// not be read (the agent then keeps its last good configuration).
type ConfigLayers struct {
	Bucket string        `json:"bucket"`
	Layers []ConfigLayer `json:"layers"`
	Error  string        `json:"error,omitempty"`
}
