package testbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// natsCLI runs the real nats CLI against one server with a private HOME
// (no contexts of the machine's user).
type natsCLI struct {
	bin, server, home string
}

func (n natsCLI) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, n.bin, append([]string{"--server", n.server}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+n.home, "XDG_CONFIG_HOME="+n.home)
	return cmd
}

// run runs one command to completion and returns its combined output.
func (n natsCLI) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.cmd(ctx, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// syncBuf is an output buffer safe to read while a process writes it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sub starts `nats sub` with args and waits until it is subscribed; the
// returned function waits for it to end (it should have --count) and
// returns its output.
func (n natsCLI) sub(t *testing.T, ctx context.Context, logs func() string, args ...string) func() string {
	t.Helper()
	var out syncBuf
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	cmd := n.cmd(ctx, append([]string{"sub"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	err := harness.WaitFor(ctx, 20*time.Second, func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("nats sub ended: %v", err)
		default:
		}
		if !strings.Contains(out.String(), "Subscribing on") {
			return errors.New("not subscribed yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("nats sub %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return func() string {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatalf("nats sub %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), logs())
		}
		return out.String()
	}
}

// TestNATSCLI drives the real nats CLI against a running stack (Redis,
// aggregator hub, site leaf, agent on a fixture /proc): decoded batches
// with `nats sub --translate`, the agent in `nats micro ls`/`info`, raw
// history with `nats req`, and a rule pushed with `nats kv put` that makes
// the agent open an incident (an alert on alerts.<site>.<host>), then a bad
// value that is refused with an error on config.error while the rule
// stays. The commands are the README's "The nats CLI".
func TestNATSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := startStack(t, ctx, "2s")
	bin, err := harness.BuildNATSCLI(s.Bins.Dir)
	if errors.Is(err, harness.ErrNoNATSCLI) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	hub := natsCLI{bin: bin, server: s.HubURL, home: t.TempDir()}
	site := natsCLI{bin: bin, server: s.LeafURL, home: hub.home}
	const subj = "ep.agent.siteA.hostA."

	t.Run("sub --translate", func(t *testing.T) {
		// Joining mid-stream, the first frames may be deltas against frames
		// this reader never saw; ask the agent for a keyframe (README).
		wait := site.sub(t, ctx, s.Logs, "tele.>", "--count", "3", "--translate", s.Bins.Agent+" decode --state-dir "+t.TempDir())
		if out := site.run(t, "req", subj+"keyframe", ""); !strings.Contains(out, "keyframe") {
			t.Fatalf("keyframe request: %s", out)
		}
		out := wait()
		for _, want := range []string{`"hostA"`, "node_load1"} {
			if !strings.Contains(out, want) {
				t.Errorf("translated output lacks %s:\n%.3000s", want, out)
			}
		}
	})

	t.Run("micro", func(t *testing.T) {
		// From the hub: the agent answers through the leaf link.
		err := harness.WaitFor(ctx, 20*time.Second, func() error {
			if out := hub.run(t, "micro", "ls"); !strings.Contains(out, "edgepulse-agent") {
				return fmt.Errorf("micro ls:\n%s", out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		info := hub.run(t, "micro", "info", "edgepulse-agent")
		for _, want := range []string{subj + "status", subj + "config", subj + "history", "site", "siteA"} {
			if !strings.Contains(info, want) {
				t.Errorf("micro info lacks %q:\n%s", want, info)
			}
		}
	})

	t.Run("history", func(t *testing.T) {
		out := hub.run(t, "req", subj+"history", `{"name":"node_load1","limit":5}`, "--raw")
		var resp struct {
			Series []struct {
				Name   string       `json:"name"`
				Points [][2]float64 `json:"points"`
			} `json:"series"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &resp); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(resp.Series) != 1 || len(resp.Series[0].Points) == 0 || resp.Series[0].Points[0][1] != 1.25 {
			t.Fatalf("history answer %s", out)
		}
		bad := hub.run(t, "req", subj+"history", `{"name":"node_nope"}`)
		if !strings.Contains(bad, "404") || !strings.Contains(bad, "no such series") {
			t.Fatalf("history of an unknown series: %s", bad)
		}
	})

	t.Run("kv put changes behaviour", func(t *testing.T) {
		// The fixture's memory is half available: on the default rules
		// nothing fires (TestEndToEnd checks that); this rule fires at once.
		const rule = `detect:
  context: 1
  incident: {open_after: 1}
  detectors:
    rules:
      - {name: mem_used, series: memory_available_percent, op: "<", threshold: 100}
`
		wait := hub.sub(t, ctx, s.Logs, "alerts.siteA.hostA", "--count", "1")
		hub.run(t, "kv", "put", "EP_CONFIG", "siteA.hostA", rule)
		alert := wait()
		if !strings.Contains(alert, "memory_available_percent") || !strings.Contains(alert, "mem_used") {
			t.Fatalf("alert does not come from the pushed rule:\n%s", alert)
		}

		wait = hub.sub(t, ctx, s.Logs, subj+"config.error", "--count", "1")
		hub.run(t, "kv", "put", "EP_CONFIG", "siteA.hostA", "detect: {enabeld: false}")
		cerr := wait()
		if !strings.Contains(cerr, "enabeld") || !strings.Contains(cerr, `"key":"siteA.hostA"`) {
			t.Fatalf("config.error:\n%s", cerr)
		}
		var st struct {
			Detection bool `json:"detection"`
			Config    struct {
				Rejected  int    `json:"rejected"`
				LastError string `json:"last_error"`
				Applied   []struct {
					Key      string `json:"key"`
					Revision int    `json:"revision"`
				} `json:"applied"`
			} `json:"config"`
		}
		out := hub.run(t, "req", subj+"status", "", "--raw")
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &st); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !st.Detection || st.Config.Rejected != 1 || len(st.Config.Applied) != 1 || st.Config.Applied[0].Key != "siteA.hostA" {
			t.Fatalf("status after the bad value: %s", out)
		}
		if cfg := hub.run(t, "req", subj+"config", "", "--raw"); !strings.Contains(cfg, "mem_used") {
			t.Fatalf("effective config lost the good rule:\n%s", cfg)
		}
	})
}
