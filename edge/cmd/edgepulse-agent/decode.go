package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/edgepulse/edgepulse/codec"
)

// cmdDecode reads one msgp batch on stdin and prints it as JSON, for
// `nats sub 'tele.>' --translate 'edgepulse-agent decode'`.
func cmdDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "edgepulse-agent decode: takes no arguments; reads a batch on stdin")
		return 2
	}
	p, err := io.ReadAll(io.LimitReader(stdin, codec.MaxBatchBytes+1))
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent decode: reading stdin:", err)
		return 1
	}
	b, err := codec.Decode(p)
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent decode:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent decode:", err)
		return 1
	}
	return 0
}
