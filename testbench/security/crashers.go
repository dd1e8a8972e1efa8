package security

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// readFuzzBytes reads a "go test fuzz v1" file holding one []byte value.
func readFuzzBytes(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
		return nil, fmt.Errorf("%s: not a go test fuzz v1 file with one []byte", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(s), nil
}

// Crashers publishes each known codec crasher (testdata/crashers/FuzzDecode)
// as a batch from site A's own subject on the hub and returns how many
// killed the aggregator or left it unable to answer /healthz. It must run
// last: a crasher ends the environment's aggregator.
func Crashers(ctx context.Context, e *Env, res *Result) (int, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return 0, err
	}
	files, _ := filepath.Glob(filepath.Join(root, "testbench", "security", "testdata", "crashers", "FuzzDecode", "*"))
	if len(files) == 0 {
		return 0, nil
	}
	nc, err := connect(ctx, e.AdminURL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	killed := 0
	for _, f := range files {
		data, err := readFuzzBytes(f)
		if err != nil {
			return killed, err
		}
		before, err := e.AggStats()
		if err != nil {
			return killed, fmt.Errorf("aggregator down before crasher %s: %w", filepath.Base(f), err)
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = js.Publish(pctx, "tele."+e.Sites[0]+".hA", data, jetstream.WithMsgID("crasher-"+filepath.Base(f)))
		cancel()
		if err != nil {
			return killed, fmt.Errorf("publishing crasher %s: %w", filepath.Base(f), err)
		}
		err = harness.WaitFor(ctx, 20*time.Second, func() error {
			if e.Agg.Exited() {
				return nil
			}
			st, err := e.AggStats()
			if err == nil && st.DecodeErrors > before.DecodeErrors {
				return nil
			}
			return fmt.Errorf("crasher %s neither rejected nor fatal yet", filepath.Base(f))
		})
		if e.Agg.Exited() || err != nil {
			killed++
			res.logf("CRASH: aggregator died on crasher %s (%s)", filepath.Base(f), lastLine(e.Agg.Tail(1<<16), "fatal error"))
			break // the aggregator is gone; the rest cannot be tried
		}
		res.logf("survived: crasher %s rejected as undecodable", filepath.Base(f))
	}
	return killed, nil
}
