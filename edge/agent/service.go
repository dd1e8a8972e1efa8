package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"
	"go.yaml.in/yaml/v3"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/history"
)

// ServiceName is the NATS micro service every agent registers
// (`nats micro ls` lists the agents, `nats micro info edgepulse-agent`
// their endpoints).
const ServiceName = "edgepulse-agent"

// MaxHistoryRequest bounds a history request body.
const MaxHistoryRequest = 64 << 10

// service is the agent's NATS micro service: status, config and history
// endpoints on ep.agent.<site>.<host>.<endpoint>.
type service struct {
	svc micro.Service
}

// semverRE is micro's version syntax; other version strings (git describe)
// go into the metadata only.
var semverRE = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func serviceVersion(v string) string {
	if semverRE.MatchString(v) {
		return strings.TrimPrefix(v, "v")
	}
	return "0.0.0"
}

func newService(a *Agent) (*service, error) {
	ver := a.cfg.Version
	if ver == "" {
		ver = "dev"
	}
	svc, err := micro.AddService(a.nc, micro.Config{
		Name:        ServiceName,
		Version:     serviceVersion(ver),
		Description: "Edgepulse edge agent " + a.cfg.AgentID(),
		Metadata:    map[string]string{"site": a.cfg.Site, "host": a.cfg.Host, "version": ver},
	})
	if err != nil {
		return nil, fmt.Errorf("agent: micro service %s: %w", ServiceName, err)
	}
	s := &service{svc: svc}
	subj := func(ep string) micro.EndpointOpt {
		return micro.WithEndpointSubject(codec.AgentSubject(a.cfg.Site, a.cfg.Host, ep))
	}
	for _, ep := range []struct {
		name string
		h    micro.HandlerFunc
	}{
		{codec.EndpointStatus, func(r micro.Request) { respondJSON(r, a.Status()) }},
		{codec.EndpointConfig, func(r micro.Request) {
			c, err := a.EffectiveConfig()
			if err != nil {
				r.Error("500", err.Error(), nil)
				return
			}
			respondJSON(r, c)
		}},
		{codec.EndpointHistory, func(r micro.Request) { a.serveHistory(r) }},
		{codec.EndpointLive, func(r micro.Request) { a.serveLive(r) }},
		{codec.EndpointKeyframe, func(r micro.Request) {
			a.fwd.Keyframe()
			respondJSON(r, map[string]string{"status": "the next frame published is a keyframe"})
		}},
	} {
		if err := svc.AddEndpoint(ep.name, ep.h, subj(ep.name), micro.WithEndpointQueueGroupDisabled()); err != nil {
			svc.Stop()
			return nil, fmt.Errorf("agent: micro endpoint %s: %w", ep.name, err)
		}
	}
	return s, nil
}

func (s *service) stop() { s.svc.Stop() }

func respondJSON(r micro.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		r.Error("500", "encoding the response: "+err.Error(), nil)
		return
	}
	r.Respond(b)
}

// serveHistory answers a codec.HistoryRequest. Errors carry the codes 400
// (malformed request), 404 (no such series in the range), 413 (a request
// body over 64 KiB) and 503 (history disabled). A limit over the agent's
// max_points is lowered to it and the answer says truncated.
func (a *Agent) serveHistory(r micro.Request) {
	hist := a.od.hist.Load()
	if hist == nil {
		if a.cfg.History.On() {
			r.Error("503", "history is off until the spool opens: the agent's disk is full", nil)
			return
		}
		r.Error("503", "history is disabled on this agent (history.enabled: false)", nil)
		return
	}
	if len(r.Data()) > MaxHistoryRequest {
		r.Error("413", fmt.Sprintf("request of %d bytes exceeds %d", len(r.Data()), MaxHistoryRequest), nil)
		return
	}
	var req codec.HistoryRequest
	dec := json.NewDecoder(strings.NewReader(string(r.Data())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		r.Error("400", `bad history request (want {"name":…,"matchers":{…},"start":ms,"end":ms,"limit":n}): `+err.Error(), nil)
		return
	}
	resp, err := hist.Query(req, a.clk.now())
	switch {
	case errors.Is(err, history.ErrBadRequest):
		r.Error("400", err.Error(), nil)
	case errors.Is(err, history.ErrNotFound):
		r.Error("404", err.Error(), nil)
	case err != nil:
		r.Error("500", err.Error(), nil)
	default:
		respondJSON(r, resp)
	}
}

// Status is the agent's state as the status endpoint reports it.
type Status struct {
	Agent     string         `json:"agent"`
	Site      string         `json:"site"`
	Host      string         `json:"host"`
	Version   string         `json:"version"`
	Started   time.Time      `json:"started"`
	UptimeS   float64        `json:"uptime_s"`
	Connected bool           `json:"connected"` // to the site leaf
	Server    string         `json:"server,omitempty"`
	Series    int            `json:"series"`
	Detection bool           `json:"detection"`
	Stats     Stats          `json:"stats"` // includes spool and forwarder state
	History   *history.Stats `json:"history,omitempty"`
	Config    ConfigStatus   `json:"config"`
}

// Status returns the agent's state.
func (a *Agent) Status() Status {
	st := a.Stats()
	s := Status{
		Agent: a.cfg.AgentID(), Site: a.cfg.Site, Host: a.cfg.Host, Version: a.cfg.Version,
		Started: a.od.started.UTC(), UptimeS: time.Since(a.od.started).Seconds(),
		Connected: a.nc.IsConnected(), Series: st.Series, Detection: a.detLive.Load() != nil,
		Stats: st, Config: a.od.remote.status(),
	}
	if s.Connected {
		s.Server = redactURL(a.nc.ConnectedUrlRedacted())
	}
	if h := a.od.hist.Load(); h != nil {
		hs := h.Stats()
		s.History = &hs
	}
	return s
}

// secretKey matches config keys whose values are never shown.
var secretKey = regexp.MustCompile(`(?i)(pass|secret|token|creds|credential|nkey|seed|private)`)

// EffectiveConfig returns the configuration in force — the file config
// with the pushed overrides applied — as the YAML field names map, secrets
// redacted (URL passwords and any key naming a password, token, secret,
// credential or key seed).
func (a *Agent) EffectiveConfig() (map[string]any, error) {
	c := a.cfg
	// The detection settings in force with their defaults filled in, not
	// the zero values that stand for them (which read as "no rules" and
	// "threshold 0").
	d, err := a.od.remote.effectiveDetect().withDefaults()
	if err != nil {
		return nil, fmt.Errorf("agent: detection defaults: %w", err)
	}
	d.Detectors, d.Incident = d.Detectors.Effective(), d.Incident.Effective()
	c.Detect = d
	c.fillEffective()
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("agent: encoding the config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("agent: encoding the config: %w", err)
	}
	m["version"] = a.cfg.Version
	redact(m)
	return m, nil
}

func redact(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if secretKey.MatchString(k) {
				if x != nil && x != "" {
					v[k] = "REDACTED"
				}
				continue
			}
			if s, ok := x.(string); ok && strings.Contains(s, "://") {
				v[k] = redactURL(s)
				continue
			}
			redact(x)
		}
	case []any:
		for i, x := range v {
			if s, ok := x.(string); ok && strings.Contains(s, "://") {
				v[i] = redactURL(s)
				continue
			}
			redact(x)
		}
	}
}

// redactURL hides the user information of every URL in a comma-separated
// list.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		u.User = url.User("REDACTED")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
