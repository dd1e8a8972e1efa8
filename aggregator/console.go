package aggregator

import "github.com/edgepulse/edgepulse/aggregator/console"

// startConsole builds the web console (aggregator/console): it answers
// under /ui/ with the query API's token and guard, is told of every frame
// applied (flush) and adds its series to /metrics.
func (a *Aggregator) startConsole(tok string) {
	a.console = console.New(console.Options{NC: a.hub.nc, Token: tok, Guard: a.api.Guard, Incidents: a.store,
		Name: a.cfg.Name, Limits: a.cfg.Console, Log: a.log.With("component", "console")})
}
