// Command edgepulse-security runs the security checks of make security:
// cross-site and cross-host writes and TLS refusals on real processes
// (package testbench/security), then every decoder's fuzz target for a
// share of -fuzztime. It ends with
//
//	RESULT rejected_cross_site=<n> accepted_cross_site=<n> fuzz_crashes=<n> tls_plaintext_refused=<yes|no>
//
// and exits 1 when anything got through or crashed. fuzz_crashes counts the
// unfixed crashers kept in testbench/security/testdata/crashers plus new
// crashes found in this run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
	"github.com/edgepulse/edgepulse/testbench/security"
)

func main() {
	fuzzTime := flag.Duration("fuzztime", 10*time.Minute, "total fuzzing time, split evenly over the fuzz targets (0: no fuzzing)")
	parallel := flag.Int("parallel", 1, "fuzz workers per target")
	saveCorpus := flag.Int("save-corpus", 0, "copy new corpus entries into testdata/fuzz until each target has this many (0: off)")
	dir := flag.String("dir", "", "working directory for logs and data (default: a temporary one, removed on success)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := harness.RepoRoot()
	if err != nil {
		fatal(err)
	}
	work := *dir
	if work == "" {
		if work, err = os.MkdirTemp("", "edgepulse-security-"); err != nil {
			fatal(err)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		fatal(err)
	}

	fmt.Println("== identities and TLS on real processes (logs in", work+")")
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	env, err := security.Start(cctx, work)
	if err != nil {
		cancel()
		fatal(err)
	}
	res, err := security.CrossSite(cctx, env)
	if err == nil {
		err = security.TLS(cctx, env, &res)
	}
	killed := 0
	if err == nil {
		// Known decoder crashers against the live aggregator (last: one
		// that still crashes ends it).
		killed, err = security.Crashers(cctx, env, &res)
	}
	env.Stop()
	cancel()
	for _, l := range res.Log {
		fmt.Println("  " + l)
	}
	if err != nil {
		fatal(err)
	}
	fmt.Printf("cross_host: rejected=%d accepted=%d\n", res.RejectedCrossHost, res.AcceptedCrossHost)

	fmt.Printf("known crashers that kill the aggregator: %d\n", killed)
	// Unfixed crashers count until they are fixed and moved into the
	// package's testdata/fuzz (testdata/crashers/README.md).
	known := security.KnownCrashers(root)
	crashes, failed := 0, 0
	for target, hashes := range known {
		crashes += len(hashes)
		fmt.Printf("known unfixed crashers of %s: %v (testbench/security/testdata/crashers/%s)\n", target, hashes, target)
	}
	if killed > 0 && crashes == 0 {
		crashes = killed
	}
	if *fuzzTime > 0 {
		each := (*fuzzTime / time.Duration(len(security.FuzzTargets))).Round(time.Second)
		fmt.Printf("== fuzzing %d targets for %v each (total %v)\n", len(security.FuzzTargets), each, *fuzzTime)
		for _, t := range security.FuzzTargets {
			start := time.Now()
			rep := security.Fuzz(ctx, root, t, each, *parallel, *saveCorpus)
			status := "ok"
			switch {
			case rep.Crashed && slices.Contains(known[t.Name], filepath.Base(rep.Failing)):
				// Found again: already counted; keep it out of testdata/fuzz
				// so go test ./... does not die on it.
				os.Remove(filepath.Join(root, t.Pkg, rep.Failing))
				status = "CRASH (known crasher " + filepath.Base(rep.Failing) + " found again)"
			case rep.Crashed:
				crashes++
				status = "CRASH (failing input in " + filepath.Join(t.Pkg, rep.Failing) + ")"
			case rep.Err != nil:
				failed++
				status = "ERROR " + rep.Err.Error()
			}
			fmt.Printf("  %-20s %-24s %6.0fs %s", t.Pkg, t.Name, time.Since(start).Seconds(), status)
			if rep.Saved > 0 {
				fmt.Printf(" (%d corpus entries saved)", rep.Saved)
			}
			fmt.Println()
			if rep.Crashed || rep.Err != nil {
				fmt.Println(rep.Tail)
			}
		}
	}
	fmt.Println(res.Line(crashes))
	if res.AcceptedCrossSite > 0 || res.AcceptedCrossHost > 0 || !res.TLSPlaintextRefused || crashes > 0 || failed > 0 {
		os.Exit(1)
	}
	if *dir == "" {
		os.RemoveAll(work)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "edgepulse-security:", err)
	os.Exit(2)
}
