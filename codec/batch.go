package codec

//go:generate go tool msgp -file batch.go -o batch_gen.go -tests=false -io=false

// Decoding refuses array headers longer than this before allocating them
// (a 11-byte batch claiming 0xdddddddd series made the generated code
// allocate them all: fatal out-of-memory, found by make security).
//
//msgp:limit arrays:1048576 maps:64

// Version is the schema version this package writes and the only one it
// reads. Bump it on any incompatible change to the types below.
const Version = 1

// ContentType is the value of the Content-Type header on every published
// batch, so that a person watching with the nats CLI knows what they see.
const ContentType = "application/vnd.edgepulse.batch+msgpack"

// Kind says how a series' samples behave.
type Kind uint8

const (
	// Gauge samples are values that go up and down.
	Gauge Kind = 0
	// Counter samples only grow (until a reset). Rollup statistics of a
	// counter are over its per-second rate; Last is the raw counter value.
	Counter Kind = 1
)

// Batch is one host's results for one window.
type Batch struct {
	Version uint16   `msg:"v"`
	Agent   string   `msg:"a"`
	Site    string   `msg:"s"`
	Host    string   `msg:"h"`
	Seq     uint64   `msg:"q"` // agent's sequence number, from 1, never reused
	Start   int64    `msg:"t"` // window start, Unix ms, aligned to Width
	Width   int64    `msg:"w"` // window width, ms
	Series  []Series `msg:"d"`
	Rollups []Rollup `msg:"r"`
	// Late counts samples that arrived after their window had closed.
	Late uint32 `msg:"l"`
	// Events are incident transitions detected at the edge, each with the
	// raw samples around it.
	Events []Event `msg:"e"`
}

// EventKind says whether an incident opened or closed.
type EventKind uint8

const (
	// Open starts an incident.
	Open EventKind = 1
	// Close ends one.
	Close EventKind = 2
)

// Event is one incident transition on one signal of the host, with the raw
// 1 s samples around it (Context[i] was observed at Start + i*Step).
//
//msgp:tuple Event
type Event struct {
	Kind     EventKind
	Incident uint64 // the agent's id of the incident: its opening time, Unix ms
	Series   string // the signal: a metric name or a derived host signal
	Labels   []string
	TS       int64   // when the transition happened, Unix ms
	Score    float64 // fused anomaly score in [0, 1] at TS
	Value    float64 // the signal's value at TS
	Reason   string  // the detectors or rules that fired
	Start    int64   // Unix ms of Context[0]
	Step     int64   // ms between context samples
	Context  []float64
}

// Series names one time series. ID is unique within the batch and is what
// Rollup.ID refers to. Labels are name/value pairs sorted by name; the
// agent adds site and instance labels on the aggregator side, not here.
//
//msgp:tuple Series
type Series struct {
	ID     uint32
	Name   string
	Kind   Kind
	Labels []string
}

// Rollup is the window summary of one series. For a counter, Count, Sum,
// Min, Max, First and the quantiles describe the per-second rate and Last
// is the raw counter value at the end of the window.
//
//msgp:tuple Rollup
type Rollup struct {
	ID    uint32
	Count uint32
	Sum   float64
	Min   float64
	Max   float64
	First float64
	Last  float64
	// Quantiles holds p50, p90 and p99 when the agent keeps a sketch for the
	// series; empty otherwise.
	Quantiles []float64
}

// Quantile levels carried in Rollup.Quantiles, in order.
var QuantileLevels = [...]float64{0.5, 0.9, 0.99}
