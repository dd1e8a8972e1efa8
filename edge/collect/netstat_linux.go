package collect

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"regexp"
)

// netstatGauges are the kept-by-pattern fields that are current values,
// not event counts.
var netstatGauges = map[string]bool{
	"Ip_Forwarding": true, "Ip_DefaultTTL": true, "Ip6_Forwarding": true,
	"Tcp_RtoAlgorithm": true, "Tcp_RtoMin": true, "Tcp_RtoMax": true, "Tcp_MaxConn": true, "Tcp_CurrEstab": true,
	"MPTcpExt_MPCurrEstab": true,
}

// NetstatCollector reads /proc/net/netstat, /proc/net/snmp and
// /proc/net/snmp6 as node_exporter's node_netstat_<Proto>_<Field>, for the
// fields Options.NetstatFields keeps (node_exporter's default set: TCP
// opens, resets, retransmits, listen drops and overflows, timeouts, UDP
// datagrams and errors, …). snmp6 is optional (no IPv6).
type NetstatCollector struct {
	netstat, snmp, snmp6 *procFile
	fields               *regexp.Regexp
	names                nameCache[nsField]
	key                  []byte
}

type nsField struct {
	name  string // "" when the field is not kept
	gauge bool
}

// NewNetstatCollector reads <root>/net/{netstat,snmp,snmp6}, keeping the
// fields (Proto_Field) that match fields (nil keeps none).
func NewNetstatCollector(root string, fields *regexp.Regexp) *NetstatCollector {
	return &NetstatCollector{
		netstat: newProcFile(root + "/net/netstat"),
		snmp:    newProcFile(root + "/net/snmp"),
		snmp6:   newProcFile(root + "/net/snmp6"),
		fields:  fields,
	}
}

func (c *NetstatCollector) Name() string { return "netstat" }

func (c *NetstatCollector) Collect(e *Emitter) error {
	defer c.names.endCycle()
	emit := func(proto, field []byte, v float64) {
		c.key = append(append(append(c.key[:0], proto...), '_'), field...)
		f := c.names.get(c.key, c.field)
		switch {
		case f.name == "":
		case f.gauge:
			e.Gauge(f.name, v)
		default:
			e.Counter(f.name, v)
		}
	}
	for _, f := range [...]*procFile{c.netstat, c.snmp} {
		r, err := f.reader()
		if err != nil {
			return wrap(c.Name(), f.path, err)
		}
		if err := parseNetstat(r, emit); err != nil {
			return wrap(c.Name(), f.path, err)
		}
	}
	r, err := c.snmp6.reader()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // IPv6 disabled
	}
	if err != nil {
		return wrap(c.Name(), c.snmp6.path, err)
	}
	if err := parseSnmp6(r, emit); err != nil {
		return wrap(c.Name(), c.snmp6.path, err)
	}
	return nil
}

func (c *NetstatCollector) field(key string) nsField {
	if !matches(c.fields, key) {
		return nsField{}
	}
	return nsField{name: "node_netstat_" + key, gauge: netstatGauges[key]}
}

// parseNetstat calls fn for every field of /proc/net/netstat or
// /proc/net/snmp, which come as pairs of lines per protocol:
//
//	Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens …
//	Tcp: 1 200 120000 -1 159 …
func parseNetstat(r io.Reader, fn func(proto, field []byte, v float64)) error {
	b, err := readAll(r)
	if err != nil {
		return err
	}
	for n := 1; len(b) > 0; n += 2 {
		var names, values []byte
		names, b = nextLine(b)
		if len(bytes.TrimSpace(names)) == 0 {
			n--
			continue
		}
		values, b = nextLine(b)
		proto, nrest := nextField(names)
		vproto, vrest := nextField(values)
		if len(proto) < 2 || proto[len(proto)-1] != ':' || !bytes.Equal(proto, vproto) {
			return malformed(n+1, values)
		}
		proto = proto[:len(proto)-1]
		for {
			var name, val []byte
			name, nrest = nextField(nrest)
			val, vrest = nextField(vrest)
			if len(name) == 0 && len(val) == 0 {
				break
			}
			if len(name) == 0 || len(val) == 0 {
				return &parseError{line: n + 1, msg: "field count differs from line " + itoa(n)}
			}
			v, err := parseNum(val)
			if err != nil {
				return numError(n+1, name, val)
			}
			fn(proto, name, v)
		}
	}
	return nil
}

// parseSnmp6 calls fn for every line of /proc/net/snmp6
// ("Ip6InOctets 1234"), split like node_exporter after the protocol's "6":
// proto Ip6, field InOctets. Lines without a 6 are skipped.
func parseSnmp6(r io.Reader, fn func(proto, field []byte, v float64)) error {
	return parseKeyValues(r, func(key []byte, v float64) {
		if i := bytes.IndexByte(key, '6'); i >= 0 {
			fn(key[:i+1], key[i+1:], v)
		}
	})
}
