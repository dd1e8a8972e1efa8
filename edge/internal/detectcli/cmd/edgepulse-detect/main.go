// Command edgepulse-detect runs the scoring CLI alone, exactly as
// `edgepulse-agent detect` does (both call detectcli.Run). It exists so
// that tools outside edge/ — testbench/evaldetect — can exec the CLI
// contract without the whole agent.
package main

import (
	"os"

	"github.com/edgepulse/edgepulse/edge/internal/detectcli"
)

func main() {
	os.Exit(detectcli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
