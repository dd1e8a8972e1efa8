package console

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

//go:embed assets
var assets embed.FS

// Console is the web console of one aggregator.
type Console struct {
	opts Options
	met  *metrics
	hub  *hub
	live *live
	note *notices
}

// New builds the console; Mount serves it.
func New(o Options) *Console {
	o.Limits.defaults()
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Guard == nil {
		o.Guard = func(h http.Handler) http.Handler { return h }
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	met := newMetrics()
	h := newHub(met)
	id := "console/" + o.Name + "/" + hex.EncodeToString(rnd[:])
	return &Console{opts: o, met: met, hub: h, live: &live{nc: o.NC, hub: h, met: met, log: o.Log, max: o.Limits.MaxLiveHosts,
		watcher: id, hosts: map[string]*liveHost{}},
		note: &notices{nc: o.NC, id: id, hub: h, met: met, log: o.Log}}
}

// Mount serves the console on mux: the page under /ui/, its WebSocket on
// /ui/ws, its incident list on /ui/api/incidents (behind the API guard)
// and a redirect from / to /ui/.
func (c *Console) Mount(mux *http.ServeMux) {
	sub, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	mux.Handle("GET /ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /ui/ws", c.serveWS)
	mux.Handle("GET /ui/api/incidents", c.opts.Guard(incidentList{c.opts.Incidents}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
}

// Applied pushes a frame's window and incidents, stored at at, to the
// browsers that show them, and publishes its notice for the other
// members' browsers (notice.go). It never blocks on a browser.
func (c *Console) Applied(b *codec.Batch, incs []store.Incident, at time.Time) {
	c.hub.applied(b, incs, at)
	c.note.publish(b, incs, at)
}

// Expired pushes the close events the store wrote for incidents it closed
// as expired (store ExpireOpenIncidents, or a write past
// redis.incident_open_max), written at at, to the browsers that show them
// — the incidents page, the fleet page and the incident's host page — and
// publishes them as incidents-only notices for the other members'
// browsers. No window is pushed: nothing was applied for the host. Like
// Applied it never blocks on a browser. A nil Console does nothing.
func (c *Console) Expired(incs []store.Incident, at time.Time) {
	if c == nil || len(incs) == 0 {
		return
	}
	c.hub.incidents(incs, at)
	c.note.publishIncidents(incs, at)
}

// Close ends every live-mode lease this console holds.
func (c *Console) Close() { c.live.closeAll() }
