package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// Config is the `alerting` section of the aggregator config. The zero
// value runs nothing.
type Config struct {
	// RuleFiles are Prometheus rule files (globs allowed), checked with
	// `promtool check rules`.
	RuleFiles []string `yaml:"rule_files"`
	// EvaluationInterval is how often the rule groups without their own
	// interval are evaluated; 1s to 1h, default 1m.
	EvaluationInterval time.Duration `yaml:"evaluation_interval"`
	// Alertmanagers are the base URLs alerts are posted to
	// (http://host:9093, API v2).
	Alertmanagers []string `yaml:"alertmanagers"`
	// ExternalURL is the aggregator's address as users reach it: alerts'
	// generator URLs and incidents' context links point there. Default
	// http://<http listen address>.
	ExternalURL string `yaml:"external_url"`
	// Incidents sends the agents' open incidents to Alertmanager; default
	// on when Alertmanagers are set (false turns it off).
	Incidents *bool `yaml:"incidents"`
	// IncidentInterval is how often open incidents are (re-)sent, and
	// closed ones sent resolved; 1s to 10m, default 30s.
	IncidentInterval time.Duration `yaml:"incident_interval"`
}

// Enabled tells whether there is anything to run.
func (c Config) Enabled() bool { return len(c.RuleFiles) > 0 || len(c.Alertmanagers) > 0 }

// Validate names the first field out of range.
func (c Config) Validate() error {
	if c.IncidentInterval != 0 && (c.IncidentInterval < time.Second || c.IncidentInterval > 10*time.Minute) {
		return fmt.Errorf("alerting: incident_interval %v must be between 1s and 10m (0: %v)", c.IncidentInterval, DefaultIncidentInterval)
	}
	if c.EvaluationInterval != 0 && (c.EvaluationInterval < time.Second || c.EvaluationInterval > time.Hour) {
		return fmt.Errorf("alerting: evaluation_interval %v must be between 1s and 1h (0: 1m)", c.EvaluationInterval)
	}
	for _, a := range c.Alertmanagers {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("alerting: alertmanagers: %q is not an http(s)://host:port URL", a)
		}
	}
	if c.ExternalURL != "" {
		if u, err := url.Parse(c.ExternalURL); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("alerting: external_url %q is not an absolute URL", c.ExternalURL)
		}
	}
	return nil
}

// DefaultIncidentInterval is how often open incidents are sent to
// Alertmanager by default.
const DefaultIncidentInterval = 30 * time.Second

// MaxIncidents bounds the incidents forwarded per pass.
const MaxIncidents = 5000

// Service runs rules and notifications; see the package doc.
type Service struct {
	cfg      Config
	log      *slog.Logger
	st       *store.Store
	rules    *rules.Manager
	notifier *notifier.Manager
	ext      string

	mu   sync.Mutex
	sent map[string]*notifier.Alert // incidents sent as firing, by key

	IncidentsSent, IncidentsResolved, IncidentErrors atomic.Uint64
}

// New builds the service over q (the query package's Queryable) with
// engine and loads the rule files; a file that does not parse is an
// error naming it.
func New(cfg Config, q storage.Queryable, engine *promql.Engine, st *store.Store, httpAddr string, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.EvaluationInterval == 0 {
		cfg.EvaluationInterval = time.Minute
	}
	if cfg.IncidentInterval == 0 {
		cfg.IncidentInterval = DefaultIncidentInterval
	}
	ext := strings.TrimRight(cfg.ExternalURL, "/")
	if ext == "" {
		ext = "http://" + httpAddr
	}
	s := &Service{cfg: cfg, log: log, st: st, ext: ext, sent: map[string]*notifier.Alert{}}
	s.notifier = notifier.NewManager(&notifier.Options{QueueCapacity: 10000}, model.UTF8Validation, log)
	if len(cfg.Alertmanagers) > 0 {
		var b strings.Builder
		b.WriteString("alerting:\n  alertmanagers:\n")
		for _, a := range cfg.Alertmanagers {
			u, _ := url.Parse(a)
			fmt.Fprintf(&b, "  - scheme: %s\n    path_prefix: %q\n    api_version: v2\n    static_configs: [{targets: [%q]}]\n",
				u.Scheme, u.Path, u.Host)
		}
		pc, err := config.Load(b.String(), log)
		if err != nil {
			return nil, fmt.Errorf("alerting: alertmanagers: %w", err)
		}
		if err := s.notifier.ApplyConfig(pc); err != nil {
			return nil, fmt.Errorf("alerting: alertmanagers: %w", err)
		}
	}
	extURL, _ := url.Parse(ext)
	s.rules = rules.NewManager(&rules.ManagerOptions{
		ExternalURL:  extURL,
		QueryFunc:    rules.EngineQueryFunc(engine, q),
		NotifyFunc:   rules.SendAlerts(s.notifier, ext),
		Context:      context.Background(),
		AppendableV2: discard{},
		Queryable:    q,
		Logger:       log,
		ResendDelay:  time.Minute,
	})
	var files []string
	for _, g := range cfg.RuleFiles {
		m, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("alerting: rule_files %q: %w", g, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("alerting: rule_files %q matches no file", g)
		}
		files = append(files, m...)
	}
	if err := s.rules.Update(cfg.EvaluationInterval, files, labels.EmptyLabels(), ext, nil); err != nil {
		return nil, fmt.Errorf("alerting: rule files: %w", err)
	}
	return s, nil
}

// Run starts evaluating the rules (loaded by New), notifying and
// forwarding incidents, and stops when ctx ends.
func (s *Service) Run(ctx context.Context) {
	tsets := make(chan map[string][]*targetgroup.Group, 1)
	groups := map[string][]*targetgroup.Group{}
	for i, a := range s.cfg.Alertmanagers {
		u, _ := url.Parse(a)
		groups[fmt.Sprintf("config-%d", i)] = []*targetgroup.Group{{
			Source:  a,
			Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(u.Host)}},
		}}
	}
	tsets <- groups
	go s.notifier.Run(tsets)
	// The notifier takes its targets asynchronously; alerts sent before
	// that would reach no Alertmanager. Wait for them (bounded).
	for deadline := time.Now().Add(5 * time.Second); len(s.notifier.Alertmanagers()) < len(s.cfg.Alertmanagers) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	go s.rules.Run()
	incidents := len(s.cfg.Alertmanagers) > 0 && (s.cfg.Incidents == nil || *s.cfg.Incidents)
	t := time.NewTicker(s.cfg.IncidentInterval)
	defer t.Stop()
	for {
		if incidents {
			if err := s.forwardIncidents(ctx); err != nil {
				s.IncidentErrors.Add(1)
				s.log.Warn("alerting: forwarding incidents", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			s.rules.Stop()
			s.notifier.Stop()
			return
		case <-t.C:
		}
	}
}

// RuleGroups are the loaded rule groups (for /api/v1/rules).
func (s *Service) RuleGroups() []*rules.Group { return s.rules.RuleGroups() }

// AlertingRules are the loaded alerting rules (for /api/v1/alerts).
func (s *Service) AlertingRules() []*rules.AlertingRule { return s.rules.AlertingRules() }

// forwardIncidents sends every open incident as firing and every one sent
// before that is no longer open as resolved.
func (s *Service) forwardIncidents(ctx context.Context) error {
	incs, err := s.st.OpenIncidents(ctx)
	if err != nil {
		return err
	}
	if len(incs) > MaxIncidents {
		slices.SortFunc(incs, func(a, b store.Incident) int { return int(int64(b.Incident) - int64(a.Incident)) })
		incs = incs[:MaxIncidents]
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	open := map[string]bool{}
	var out []*notifier.Alert
	for i := range incs {
		a := s.incidentAlert(&incs[i], now)
		k := incs[i].Key()
		open[k] = true
		s.sent[k] = a
		out = append(out, a)
	}
	resolved := 0
	for k, a := range s.sent {
		if !open[k] {
			r := *a
			r.EndsAt = now
			out = append(out, &r)
			delete(s.sent, k)
			resolved++
		}
	}
	if len(out) > 0 {
		s.notifier.Send(out...)
	}
	s.IncidentsSent.Add(uint64(len(incs)))
	s.IncidentsResolved.Add(uint64(resolved))
	return nil
}

// IncidentLabels are an incident's alert labels: alertname (the series),
// site, instance, job (from the series' labels; "node" if none), the
// series' other labels and severity.
func IncidentLabels(in *store.Incident) labels.Labels {
	b := labels.NewScratchBuilder(len(in.Labels) + 5)
	m := map[string]string{"job": "node", "severity": "warning"}
	for k, v := range in.Labels {
		m[k] = v
	}
	m["alertname"], m["site"], m["instance"] = in.Series, in.Site, in.Host
	for k, v := range m {
		b.Add(k, v)
	}
	b.Sort()
	return b.Labels()
}

func (s *Service) incidentAlert(in *store.Incident, now time.Time) *notifier.Alert {
	ls := IncidentLabels(in)
	start := time.UnixMilli(int64(in.Incident))
	if in.Incident == 0 {
		start = time.UnixMilli(in.Time)
	}
	// The raw 1 s context around the incident: a range query finer than
	// the windows fetches the agent's detail on demand.
	sel := in.Series + "{" + `instance="` + in.Host + `",site="` + in.Site + `"}`
	from := start.Add(-5 * time.Minute)
	q := url.Values{"query": {sel}, "start": {strconv.FormatInt(from.Unix(), 10)},
		"end": {strconv.FormatInt(start.Add(5*time.Minute).Unix(), 10)}, "step": {"1"}}
	ann := labels.FromStrings(
		"value", strconv.FormatFloat(in.Value, 'g', -1, 64),
		"score", strconv.FormatFloat(in.Score, 'f', 3, 64),
		"reason", in.Reason,
		"context_url", s.ext+"/api/v1/query_range?"+q.Encode(),
	)
	return &notifier.Alert{Labels: ls, Annotations: ann, StartsAt: start,
		EndsAt: now.Add(4 * s.cfg.IncidentInterval), GeneratorURL: s.ext + "/api/v1/alerts"}
}
