package query

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/rules"
)

// RuleSource is what /api/v1/rules and /api/v1/alerts read: the upstream
// rules manager's groups and alerting rules. Both methods are safe for
// concurrent use (rules.Manager's are).
type RuleSource interface {
	RuleGroups() []*rules.Group
	AlertingRules() []*rules.AlertingRule
}

// ruleViews answers /api/v1/rules from the rules (nil: no rules); the
// API's alerts read them too.
type ruleViews struct {
	replies
	rules RuleSource
}

// SetRules makes /api/v1/rules and /api/v1/alerts answer from rs. Call it
// before serving.
func (v *ruleViews) SetRules(rs RuleSource) { v.rules = rs }

// rulesList answers /api/v1/rules in Prometheus' shape (type=alert or
// type=record filters as Prometheus does).
func (v *ruleViews) rulesList(w http.ResponseWriter, r *http.Request) {
	type alert struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		State       string            `json:"state"`
		ActiveAt    *time.Time        `json:"activeAt,omitempty"`
		Value       string            `json:"value"`
	}
	type rule struct {
		State          string            `json:"state,omitempty"`
		Name           string            `json:"name"`
		Query          string            `json:"query"`
		Duration       float64           `json:"duration,omitempty"`
		KeepFiring     float64           `json:"keepFiringFor,omitempty"`
		Labels         map[string]string `json:"labels,omitempty"`
		Annotations    map[string]string `json:"annotations,omitempty"`
		Alerts         []alert           `json:"alerts,omitempty"`
		Health         string            `json:"health"`
		LastError      string            `json:"lastError,omitempty"`
		Type           string            `json:"type"`
		LastEvaluation time.Time         `json:"lastEvaluation"`
		EvaluationTime float64           `json:"evaluationTime"`
	}
	type group struct {
		Name           string    `json:"name"`
		File           string    `json:"file"`
		Rules          []rule    `json:"rules"`
		Interval       float64   `json:"interval"`
		LastEvaluation time.Time `json:"lastEvaluation"`
		EvaluationTime float64   `json:"evaluationTime"`
	}
	if err := r.ParseForm(); err != nil {
		v.fail(w, badData("%v", err))
		return
	}
	typ := r.Form.Get("type")
	if typ != "" && typ != "alert" && typ != "record" {
		v.fail(w, badData("invalid parameter \"type\": %q is neither alert nor record", typ))
		return
	}
	groups := []group{}
	if v.rules != nil {
		for _, g := range v.rules.RuleGroups() {
			gr := group{Name: g.Name(), File: g.File(), Interval: g.Interval().Seconds(), Rules: []rule{},
				LastEvaluation: g.GetLastEvaluation(), EvaluationTime: g.GetEvaluationTime().Seconds()}
			for _, rl := range g.Rules() {
				out := rule{Name: rl.Name(), Query: rl.Query().String(), Labels: rl.Labels().Map(), Health: string(rl.Health()),
					LastEvaluation: rl.GetEvaluationTimestamp(), EvaluationTime: rl.GetEvaluationDuration().Seconds()}
				if err := rl.LastError(); err != nil {
					out.LastError = err.Error()
				}
				switch ar := rl.(type) {
				case *rules.AlertingRule:
					if typ == "record" {
						continue
					}
					out.Type, out.State = "alerting", ar.State().String()
					out.Duration, out.KeepFiring = ar.HoldDuration().Seconds(), ar.KeepFiringFor().Seconds()
					out.Annotations = ar.Annotations().Map()
					for _, al := range ar.ActiveAlerts() {
						at := al.ActiveAt.UTC()
						out.Alerts = append(out.Alerts, alert{Labels: al.Labels.Map(), Annotations: al.Annotations.Map(),
							State: al.State.String(), ActiveAt: &at, Value: strconv.FormatFloat(al.Value, 'e', -1, 64)})
					}
				default:
					if typ == "alert" {
						continue
					}
					out.Type = "recording"
				}
				gr.Rules = append(gr.Rules, out)
			}
			groups = append(groups, gr)
		}
	}
	v.ok(w, map[string]any{"groups": groups})
}
