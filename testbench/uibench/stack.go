package uibench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgepulse/edgepulse/testbench/harness"
	"github.com/edgepulse/edgepulse/testbench/proxy"
)

// Stack is a one-site stack whose leaf link runs through a counting proxy.
type Stack struct {
	*harness.Stack
	Proxy *proxy.Proxy // leaf → hub: Stats().Up is the site's uplink
	Token string       // the query API's bearer token, "" when open
}

// StackOptions configure StartStack.
type StackOptions struct {
	Dir      string
	ProcRoot string // the agent's /proc
	Window   string // the agent's window, e.g. "2s"
	Token    string // bearer token for the API and the console; "" for none
	// AgentExtra is appended to the agent's config.
	AgentExtra string
}

// StartStack starts Redis, the aggregator (hub), a leaf dialing the hub
// through a counting proxy, and an agent.
func StartStack(ctx context.Context, o StackOptions) (*Stack, error) {
	s := &Stack{Token: o.Token}
	agg := ""
	if o.Token != "" {
		agg = fmt.Sprintf("auth: {bearer_token: %q}\n", o.Token)
	}
	hs, err := harness.StartStack(ctx, harness.StackOptions{Dir: o.Dir, ProcRoot: o.ProcRoot, Window: o.Window, AggExtra: agg,
		AgentExtra: o.AgentExtra,
		LeafVia: func(hub string) (string, error) {
			p, err := proxy.New("127.0.0.1:0", hub)
			if err != nil {
				return "", err
			}
			s.Proxy = p
			return p.Addr(), nil
		}})
	if err != nil {
		if s.Proxy != nil {
			s.Proxy.Close()
		}
		return nil, err
	}
	s.Stack = hs
	return s, nil
}

// Stop ends the processes and the proxy.
func (s *Stack) Stop() {
	s.Stack.Stop()
	if s.Proxy != nil {
		s.Proxy.Close()
	}
}

// ErrNoChromium: no chromium binary on this host.
var ErrNoChromium = errors.New("no chromium (Debian: apt-get install chromium)")

// Chromium finds the browser: $CHROMIUM, else chromium or
// chromium-browser on PATH.
func Chromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Browser starts headless chromium with a fresh profile in dir; tabs are
// chromedp.NewContext(ctx) of the returned context.
func Browser(ctx context.Context, dir string) (context.Context, context.CancelFunc, error) {
	bin, err := Chromium()
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // containers and CI run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1000, 720),
		chromedp.UserDataDir(filepath.Join(dir, "chromium-profile")),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		bcancel()
		acancel()
		return nil, nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	return bctx, func() { bcancel(); acancel() }, nil
}

// Eval evaluates a JavaScript expression in the tab.
func Eval[T any](ctx context.Context, expr string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// WaitJS polls a JavaScript boolean expression until it is true.
func WaitJS(ctx context.Context, timeout time.Duration, expr string) error {
	deadline := time.Now().Add(timeout)
	for {
		ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := Eval[bool](ectx, "!!("+expr+")")
		cancel()
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("still false")
			}
			return fmt.Errorf("waiting %v for %s: %w", timeout, expr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Screenshot saves the tab's viewport as a PNG.
func Screenshot(ctx context.Context, path string) error {
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}
