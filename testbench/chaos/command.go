package chaos

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

// Command is the body of a chaos command after its flags are parsed:
// *dir becomes a new temporary directory when empty, Ctrl-C cancels run,
// the RESULT lines go to stdout and an error to stderr with exit status 1.
func Command(name string, dir *string, run func(ctx context.Context) ([]string, error)) {
	if *dir == "" {
		d, err := os.MkdirTemp("", name+"-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		*dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	lines, err := run(ctx)
	stop()
	for _, l := range lines {
		fmt.Println(l)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "logs in", *dir)
}
