package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/internal/backoff"
)

// RemoteConfig configures the pushed configuration overrides.
//
// The hub holds a KV bucket (default EP_CONFIG) with keys "_all",
// "<site>._site" and "<site>.<host>", each a YAML (or JSON) document with
// the live-changeable part of the agent config (see [Override]). An agent
// merges the three in that order over its file config. A site leaf
// without its own JetStream denies $KV.> and the JetStream API across the
// leaf link, so the agent uses plain subjects: the bucket republishes each
// change (headers only) on ep.config.kv.<key>, which the agent subscribes
// to — no consumer, so an idle agent costs the uplink nothing — and it
// asks the aggregators for its layers on ep.config.get.<site>.<host> at
// start, on every reconnect and when a change is announced. See
// docs/config-push.md.
type RemoteConfig struct {
	// Enabled follows the bucket; default true.
	Enabled *bool `yaml:"enabled"`
	// Bucket is the KV bucket (for status only: the aggregators read it);
	// default EP_CONFIG.
	Bucket string `yaml:"bucket"`
}

// DefaultConfigBucket is the KV bucket holding configuration overrides.
const DefaultConfigBucket = "EP_CONFIG"

// Validate names the first bad field.
func (r RemoteConfig) Validate() error {
	if r.Bucket != "" && !tokenRE.MatchString(r.Bucket) {
		return fmt.Errorf("remote_config: bucket %q must be 1–64 characters of [A-Za-z0-9_-]", r.Bucket)
	}
	return nil
}

func (r RemoteConfig) bucket() string {
	if r.Bucket == "" {
		return DefaultConfigBucket
	}
	return r.Bucket
}

// Override is the live-changeable part of the agent config: what a pushed
// document may contain. Fields it leaves out keep their value from the
// layer below; a `rules` list replaces the rules below it.
//
//	detect:
//	  enabled: true
//	  context: 1
//	  incident: {open_after: 1}
//	  detectors:
//	    rules:
//	      - {name: load_high, series: node_load1, op: ">", threshold: 4}
type Override struct {
	Detect DetectConfig `yaml:"detect"`
}

// layer is one key's value as last read.
type layer = codec.ConfigLayer

// ConfigStatus is the pushed configuration's state, shown in status.
type ConfigStatus struct {
	Bucket    string   `json:"bucket"`
	Keys      []string `json:"keys"`              // the keys this agent follows
	Applied   []layer  `json:"applied"`           // the layers in effect (last good)
	Applies   uint64   `json:"applies"`           // changes applied
	Rejected  uint64   `json:"rejected"`          // changes refused as invalid
	Errors    uint64   `json:"errors"`            // failed reads of the bucket
	LastError string   `json:"last_error"`        // why the last change was refused
	ErrorAt   int64    `json:"error_at,omitzero"` // when (Unix ms)
}

type detSwap struct{ det *Detector }

// remote follows the configuration bucket and applies changes.
type remote struct {
	a    *Agent
	keys []string
	path string // the last good layers, for a restart while offline

	mu      sync.Mutex
	applied []layer
	detect  DetectConfig // the effective detection config
	st      ConfigStatus
	subs    []*nats.Subscription
	kick    chan struct{}
	stopped atomic.Bool
}

func newRemote(a *Agent) (*remote, error) {
	site, host := a.cfg.Site, a.cfg.Host
	r := &remote{a: a, keys: codec.ConfigKeys(site, host),
		path: filepath.Join(a.cfg.DataDir, "remote-config.json"), detect: a.cfg.Detect, kick: make(chan struct{}, 1)}
	r.st.Bucket = a.cfg.RemoteConfig.bucket()
	r.st.Keys = r.keys
	b, err := os.ReadFile(r.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return r, nil
	case err != nil:
		a.log.Warn("remote config: cannot read the last good override; using the file config", "path", r.path, "err", err)
		return r, nil
	}
	var layers []layer
	if err := json.Unmarshal(b, &layers); err != nil {
		a.log.Warn("remote config: unreadable last good override; using the file config", "path", r.path, "err", err)
		return r, nil
	}
	d, det, err := r.build(layers)
	if err != nil {
		a.log.Warn("remote config: stored override no longer valid; using the file config", "path", r.path, "err", err)
		return r, nil
	}
	a.log.Info("remote config: applying the last good override", "path", r.path, "layers", len(layers))
	r.applied, r.detect = layers, d
	r.st.Applied = layers
	a.det = det // New runs before the rollup loop: no swap needed
	a.detLive.Store(det)
	return r, nil
}

// build merges the layers over the file config and builds the detector
// (nil when detection is disabled).
func (r *remote) build(layers []layer) (DetectConfig, *Detector, error) {
	d, err := cloneDetect(r.a.cfg.Detect)
	if err != nil {
		return d, nil, err
	}
	for _, l := range layers {
		var strict Override
		dec := yaml.NewDecoder(strings.NewReader(l.Value))
		dec.KnownFields(true)
		if err := dec.Decode(&strict); err != nil && !errors.Is(err, io.EOF) {
			return d, nil, fmt.Errorf("key %s (revision %d): %w", l.Key, l.Revision, err)
		}
		ov := Override{Detect: d}
		if err := yaml.Unmarshal([]byte(l.Value), &ov); err != nil {
			return d, nil, fmt.Errorf("key %s (revision %d): %w", l.Key, l.Revision, err)
		}
		d = ov.Detect
	}
	if d.Enabled != nil && !*d.Enabled {
		full, err := d.withDefaults()
		if err != nil {
			return d, nil, err
		}
		return d, nil, full.Validate()
	}
	det, err := NewDetector(d, r.a.reg, r.a.cfg.Interval)
	return d, det, err
}

// cloneDetect deep-copies a DetectConfig (pointers and slices included)
// through YAML, so decoding a layer over the copy cannot touch the file
// config.
func cloneDetect(d DetectConfig) (DetectConfig, error) {
	b, err := yaml.Marshal(d)
	if err != nil {
		return d, fmt.Errorf("remote config: copying the detect config: %w", err)
	}
	var c DetectConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		return d, fmt.Errorf("remote config: copying the detect config: %w", err)
	}
	return c, nil
}

// run follows the bucket until ctx is done.
func (r *remote) run(ctx context.Context) {
	if !r.a.cfg.RemoteConfig.on() {
		return
	}
	nc := r.a.nc
	for _, k := range r.keys {
		sub, err := nc.Subscribe(codec.ConfigNotifySubject(k), func(*nats.Msg) { r.poke() })
		if err != nil {
			r.a.log.Warn("remote config: subscribe", "key", k, "err", err)
			continue
		}
		r.mu.Lock()
		r.subs = append(r.subs, sub)
		r.mu.Unlock()
	}
	connected := nc.StatusChanged(nats.CONNECTED)
	defer nc.RemoveStatusListener(connected)
	// While the aggregators cannot be asked (none up, link down), retry
	// with a capped, jittered backoff; a request nobody can answer is refused by the
	// local leaf and costs the uplink nothing. Once a sync succeeds only
	// notifications and reconnects trigger one.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	pause := backoff.New(retryMin, retryMax)
	r.poke()
	for {
		select {
		case <-ctx.Done():
			return
		case <-connected:
			r.poke()
		case <-retry.C:
			r.poke()
		case <-r.kick:
			if err := r.sync(ctx); err != nil {
				r.mu.Lock()
				r.st.Errors++
				r.mu.Unlock()
				d := pause.Next()
				r.a.log.Debug("remote config: reading the layers (keeping the last good config)", "retry_in", d, "err", err)
				retry.Reset(d)
				continue
			}
			retry.Stop()
			pause.Reset()
		}
	}
}

// The retry backoff of a failed sync.
const (
	retryMin = 5 * time.Second
	retryMax = 5 * time.Minute
)

func (c RemoteConfig) on() bool { return c.Enabled == nil || *c.Enabled }

func (r *remote) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// sync asks the aggregators for the agent's layers and applies them if
// they changed.
func (r *remote) sync(ctx context.Context) error {
	if !r.a.nc.IsConnected() {
		return errors.New("not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	subj := codec.ConfigGetSubject(r.a.cfg.Site, r.a.cfg.Host)
	m, err := r.a.nc.RequestWithContext(ctx, subj, nil)
	if err != nil {
		return fmt.Errorf("request %s: %w", subj, err)
	}
	var resp codec.ConfigLayers
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return fmt.Errorf("%s: bad answer: %w", subj, err)
	}
	if resp.Error != "" {
		return fmt.Errorf("%s: %s", subj, resp.Error)
	}
	var layers []layer
	for _, l := range resp.Layers {
		if slices.Contains(r.keys, l.Key) { // only ours, lowest first
			layers = append(layers, l)
		}
	}
	slices.SortStableFunc(layers, func(x, y layer) int { return slices.Index(r.keys, x.Key) - slices.Index(r.keys, y.Key) })
	return r.apply(layers)
}

// apply makes layers the pushed configuration if they differ from the
// applied ones and are valid; an invalid change is refused, counted and
// published on the config.error subject.
func (r *remote) apply(layers []layer) error {
	r.mu.Lock()
	same := slices.Equal(layers, r.applied)
	r.mu.Unlock()
	if same {
		return nil
	}
	d, det, err := r.build(layers)
	if err != nil {
		r.reject(layers, err)
		return nil
	}
	b, _ := json.Marshal(layers)
	if werr := writeFileAtomic(r.path, b); werr != nil {
		r.a.log.Warn("remote config: persisting the override", "path", r.path, "err", werr)
	}
	r.mu.Lock()
	r.applied, r.detect = layers, d
	r.st.Applied = layers
	r.st.Applies++
	r.mu.Unlock()
	r.a.detNext.Store(&detSwap{det: det})
	r.a.log.Info("remote config: applied", "layers", layerNames(layers), "detection", det != nil)
	return nil
}

func (r *remote) reject(layers []layer, err error) {
	r.mu.Lock()
	var changed []string
	var rev uint64
	for _, l := range layers {
		if !slices.Contains(r.applied, l) {
			changed = append(changed, l.Key)
			rev = max(rev, l.Revision)
		}
	}
	for _, l := range r.applied {
		if !slices.ContainsFunc(layers, func(n layer) bool { return n.Key == l.Key }) {
			changed = append(changed, l.Key)
		}
	}
	r.st.Rejected++
	r.st.LastError = err.Error()
	r.st.ErrorAt = time.Now().UnixMilli()
	r.mu.Unlock()
	ce := codec.ConfigError{Agent: r.a.cfg.AgentID(), Key: strings.Join(changed, ","), Revision: rev,
		Error: err.Error(), TS: time.Now().UnixMilli()}
	b, _ := json.Marshal(ce)
	subj := codec.AgentSubject(r.a.cfg.Site, r.a.cfg.Host, codec.EndpointConfigError)
	if perr := r.a.nc.Publish(subj, b); perr != nil {
		r.a.log.Warn("remote config: publishing the error", "subject", subj, "err", perr)
	}
	r.a.log.Error("remote config: change refused, keeping the last good config", "keys", ce.Key, "err", err)
}

func layerNames(ls []layer) string {
	var b bytes.Buffer
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s@%d", l.Key, l.Revision)
	}
	return b.String()
}

func (r *remote) status() ConfigStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.Applied = slices.Clone(st.Applied)
	return st
}

func (r *remote) effectiveDetect() DetectConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.detect
}

func (r *remote) stop() {
	if r.stopped.Swap(true) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.subs {
		s.Unsubscribe()
	}
}

// swapDetector switches the rollup loop to a pushed detector. Events the
// old one had ready still ship; its open incidents are not closed (the new
// detector starts without state) and its incident count carries over.
func (a *Agent) swapDetector() {
	p := a.detNext.Swap(nil)
	if p == nil {
		return
	}
	if a.det != nil {
		a.pending = append(a.pending, a.det.TakeEvents()...)
		o, _ := a.det.Incidents()
		a.incBase.Add(o)
	}
	a.det = p.det
	a.detLive.Store(p.det)
}

// writeFileAtomic writes b to path through a synced temporary file and a
// rename, so a crash leaves the old or the new content.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
