// Command fuzz-targets prints security.FuzzTargets, one "<package> <name>"
// per line, for make fuzz: one list for make fuzz and make security.
package main

import (
	"fmt"

	"github.com/edgepulse/edgepulse/testbench/security"
)

func main() {
	for _, t := range security.FuzzTargets {
		fmt.Println(t.Pkg, t.Name)
	}
}
