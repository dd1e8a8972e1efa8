package collect

import "time"

// TimeCollector reports node_exporter's node_time_seconds (the sample's
// own time, so the Uptime panel, node_time_seconds −
// node_boot_time_seconds, is right) and
// node_time_zone_offset_seconds{time_zone}.
type TimeCollector struct {
	loc *time.Location
}

// NewTimeCollector reports times in loc (nil: the local zone).
func NewTimeCollector(loc *time.Location) *TimeCollector {
	if loc == nil {
		loc = time.Local
	}
	return &TimeCollector{loc: loc}
}

func (c *TimeCollector) Name() string { return "time" }

func (c *TimeCollector) Collect(e *Emitter) error {
	t := time.UnixMilli(e.ts).In(c.loc)
	e.Gauge("node_time_seconds", float64(e.ts)/1000)
	zone, offset := t.Zone()
	e.Gauge("node_time_zone_offset_seconds", float64(offset), "time_zone", zone)
	return nil
}
