package agent

import "github.com/edgepulse/edgepulse/edge/spool"

// fillEffective replaces the zero values that stand for a default with
// the default in force, for the effective config (EffectiveConfig): a
// reader of `history: {max_bytes: 0, retention: 0s}` or `clock:
// {check_every: 0s}` cannot tell that it means 192 MiB, 24 h and 1 m.
// The detection settings are filled by EffectiveConfig itself.
func (c *Config) fillEffective() {
	on := true
	c.Clock = c.Clock.withDefaults()
	if c.Clock.Correct == nil {
		c.Clock.Correct = &on
	}
	c.History = c.History.WithDefaults()
	if c.RemoteConfig.Enabled == nil {
		c.RemoteConfig.Enabled = &on
	}
	c.RemoteConfig.Bucket = c.RemoteConfig.bucket()
	if c.DiskReserve == 0 {
		c.DiskReserve = spool.DefaultDiskReserve
	}
	if c.HeapHeadroom == 0 {
		c.HeapHeadroom = DefaultHeapHeadroom
	}
}
