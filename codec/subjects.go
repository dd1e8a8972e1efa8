package codec

// Agent service subjects: every agent answers requests on
// ep.agent.<site>.<host>.<endpoint> (NATS request-reply, JSON bodies).
const (
	EndpointStatus  = "status"  // agent counters, uptime, version
	EndpointConfig  = "config"  // the effective configuration, secrets redacted
	EndpointHistory = "history" // raw samples: HistoryRequest → HistoryResponse
	// EndpointKeyframe makes the agent send its next frame as a keyframe,
	// so a reader that joined mid-stream (nats sub --translate) decodes it.
	EndpointKeyframe = "keyframe"
	// EndpointConfigError is not a request endpoint: the agent publishes a
	// ConfigError there when a pushed configuration is rejected.
	EndpointConfigError = "config.error"
)

// AgentSubject is the subject of an agent's endpoint, e.g.
// AgentSubject("site1", "gw-7", EndpointHistory) = "ep.agent.site1.gw-7.history".
func AgentSubject(site, host, endpoint string) string {
	return "ep.agent." + site + "." + host + "." + endpoint
}

// Configuration push (docs/config-push.md). The hub's KV bucket republishes
// every change, headers only, on ConfigNotifySubject(key); an agent asks
// any aggregator for its layers on ConfigGetSubject(site, host) and gets
// ConfigLayers back. Both are plain subjects: a site leaf without its own
// JetStream denies $JS.API.> and $KV.> across the leaf link.
const (
	ConfigNotifyPrefix = "ep.config.kv."
	ConfigGetPrefix    = "ep.config.get."
)

// ConfigNotifySubject is where a change of the bucket key is announced.
func ConfigNotifySubject(key string) string { return ConfigNotifyPrefix + key }

// ConfigGetSubject is where an agent requests its configuration layers.
func ConfigGetSubject(site, host string) string { return ConfigGetPrefix + site + "." + host }

// ConfigKeys are the bucket keys that concern one agent, lowest layer first.
func ConfigKeys(site, host string) []string {
	return []string{"_all", site + "._site", site + "." + host}
}
