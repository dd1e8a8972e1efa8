package agent

import (
	"os"
	"testing"
)

// TestDropExecutablePages releases this test binary's unused pages: the
// resident part of the executable must shrink, and the process must go
// on running code afterwards (this test returning is that).
func TestDropExecutablePages(t *testing.T) {
	if os.Getenv("EDGEPULSE_TEST_EXEC") != "" {
		t.Skip("under an emulator the mappings are the emulator's")
	}
	before, after, err := dropExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("executable resident: %d KiB before, %d KiB after", before>>10, after>>10)
	if after >= before*3/4 {
		t.Fatalf("executable resident %d KiB after release, %d before: not released", after>>10, before>>10)
	}
}
