package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// startWindow is how long after launch the start's RSS peak is read.
const startWindow = time.Minute

// startResult is an agent's start: how long until its /metrics answered
// (its spool and raw history are opened before it listens, so on a full
// history this includes reading the stored minutes), and its peak RSS
// (VmHWM) over the first minute. took is -1 s if /metrics never answered
// within the minute.
type startResult struct {
	took       time.Duration
	hwmKB      int64
	reset      bool          // VmHWM was reset after the first minute
	resetAfter time.Duration // when, after launch
}

type startWatch struct {
	done chan struct{}
	res  startResult
}

// watchStart polls the agent's /metrics every 50 ms from its launch until
// it answers 200, then reads its VmHWM once the first minute is over and,
// with resetPeak, resets it ("5" to /proc/<pid>/clear_refs, Linux ≥ 4.0)
// once the start's pages are released, so that later samples' VmHWM is
// the peak since.
func watchStart(p *harness.Proc, metricsAddr string, launched time.Time, resetPeak bool) *startWatch {
	w := &startWatch{done: make(chan struct{}), res: startResult{took: -time.Second}}
	go func() {
		defer close(w.done)
		client := &http.Client{Timeout: time.Second}
		for time.Since(launched) < startWindow && !p.Exited() {
			resp, err := client.Get("http://" + metricsAddr + "/metrics")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					w.res.took = time.Since(launched)
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Until(launched.Add(startWindow)))
		pid := p.Cmd.Process.Pid
		if u, err := procUsage(pid); err == nil {
			w.res.hwmKB = u.hwmKB
		}
		if resetPeak {
			// The agent pages its tables out once a minute
			// (edge/agent/pages.go): a reset before that would keep the
			// start's pages in the peak. Wait until the RSS fell below
			// half the start's peak (at most two more minutes).
			for time.Since(launched) < 3*startWindow && !p.Exited() {
				if u, err := procUsage(pid); err != nil || 2*u.rssKB < w.res.hwmKB {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			w.res.resetAfter = time.Since(launched)
			err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench-agent: cannot reset the peak RSS of %s (the peaks include its start): %v\n", p.Name, err)
			}
			w.res.reset = err == nil
		}
	}()
	return w
}

// wait returns the result once the first minute is over.
func (w *startWatch) wait() startResult {
	<-w.done
	return w.res
}
