package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/edgepulse/edgepulse/codec"
)

// Close codes the console uses (4000–4999 are the application's).
const (
	closeUnauthorized = websocket.StatusCode(4401)
	closeBadMessage   = websocket.StatusCode(4400)
)

// clientMsg is what a browser sends: first {"type":"auth","token":…},
// then "sub" (replaces its subscriptions) and "live" (starts or stops
// watching one host live).
type clientMsg struct {
	Type      string               `json:"type"`
	Token     string               `json:"token,omitempty"`
	Fleet     bool                 `json:"fleet,omitempty"`
	Incidents bool                 `json:"incidents,omitempty"`
	Hosts     []hostSub            `json:"hosts,omitempty"`
	Site      string               `json:"site,omitempty"`
	Host      string               `json:"host,omitempty"`
	On        bool                 `json:"on,omitempty"`
	Series    []codec.LiveSelector `json:"series,omitempty"`
}

type hostSub struct {
	Site  string   `json:"site"`
	Host  string   `json:"host"`
	Names []string `json:"names,omitempty"`
}

// serveWS upgrades to a WebSocket, authenticates the first message and
// runs the connection until either side closes it.
func (c *Console) serveWS(w http.ResponseWriter, r *http.Request) {
	addr, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		addr = r.RemoteAddr
	}
	cl, reason := c.hub.add(addr, c.opts.Limits)
	if cl == nil {
		c.met.refused.WithLabelValues(reason).Inc()
		http.Error(w, fmt.Sprintf("console: too many WebSocket connections (%s: %d in total, %d per client)",
			reason, c.opts.Limits.MaxConns, c.opts.Limits.MaxConnsPerClient), http.StatusTooManyRequests)
		return
	}
	defer c.hub.remove(cl)
	ws, err := websocket.Accept(w, r, nil) // same-origin only (the default)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(maxClientMessage)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if !c.authenticate(ctx, ws) {
		return
	}
	c.note.retain() // the other members' pushes, while a browser is here
	defer c.note.release()
	defer c.live.leaveAll(cl.id)
	hello, _ := json.Marshal(map[string]any{"type": "hello", "server_ms": time.Now().UnixMilli()})
	c.hub.send(cl, hello)
	go func() {
		defer cancel()
		c.writeLoop(ctx, ws, cl)
	}()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if err := c.handle(cl, data); err != nil {
			c.met.refused.WithLabelValues(refuseBadMessage).Inc()
			ws.Close(closeBadMessage, truncate(err.Error(), 120))
			return
		}
	}
}

// authenticate reads the first message; with a token configured it must
// be {"type":"auth","token":<token>}.
func (c *Console) authenticate(ctx context.Context, ws *websocket.Conn) bool {
	actx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	_, data, err := ws.Read(actx)
	if err != nil {
		return false
	}
	var m clientMsg
	if err := json.Unmarshal(data, &m); err != nil || m.Type != "auth" {
		c.met.refused.WithLabelValues(refuseUnauthorized).Inc()
		ws.Close(closeUnauthorized, `the first message must be {"type":"auth","token":…}`)
		return false
	}
	if c.opts.Token != "" && subtle.ConstantTimeCompare([]byte(m.Token), []byte(c.opts.Token)) != 1 {
		c.met.refused.WithLabelValues(refuseUnauthorized).Inc()
		ws.Close(closeUnauthorized, "missing or invalid bearer token")
		return false
	}
	return true
}

// handle applies one client message.
func (c *Console) handle(cl *client, data []byte) error {
	var m clientMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("malformed message: %v", err)
	}
	switch m.Type {
	case "sub":
		if len(m.Hosts) > maxHostsPerConn {
			return fmt.Errorf("%d host subscriptions exceed %d", len(m.Hosts), maxHostsPerConn)
		}
		hosts := make(map[string][]string, len(m.Hosts))
		for _, h := range m.Hosts {
			if len(h.Names) > maxNamesPerHost {
				return fmt.Errorf("%d series names for %s/%s exceed %d", len(h.Names), h.Site, h.Host, maxNamesPerHost)
			}
			hosts[h.Site+"/"+h.Host] = h.Names
		}
		c.hub.mu.Lock()
		cl.fleet, cl.incidents, cl.hosts = m.Fleet, m.Incidents, hosts
		c.hub.mu.Unlock()
	case "live":
		if m.Site == "" || m.Host == "" {
			return errors.New("live: site and host are required")
		}
		key := m.Site + "/" + m.Host
		if !m.On {
			c.hub.mu.Lock()
			delete(cl.live, key)
			c.hub.mu.Unlock()
			c.live.leave(cl.id, m.Site, m.Host)
			return nil
		}
		c.hub.mu.Lock()
		if cl.live == nil {
			cl.live = map[string]bool{}
		}
		if !cl.live[key] && len(cl.live) >= maxLivePerConn {
			c.hub.mu.Unlock()
			return fmt.Errorf("live: one connection watches at most %d hosts", maxLivePerConn)
		}
		cl.live[key] = true
		c.hub.mu.Unlock()
		if err := c.live.join(cl.id, m.Site, m.Host, m.Series); err != nil {
			msg, _ := json.Marshal(map[string]string{"type": "live_error", "site": m.Site, "host": m.Host, "error": err.Error()})
			c.hub.send(cl, msg)
		}
	default:
		return fmt.Errorf("unknown message type %q", m.Type)
	}
	return nil
}

func (c *Console) writeLoop(ctx context.Context, ws *websocket.Conn, cl *client) {
	var buf [][]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-cl.out.ready:
		}
		buf = cl.out.take(buf[:0])
		for _, msg := range buf {
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := ws.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				return
			}
			c.met.sent.Inc()
		}
		clear(buf)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
