package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

func main() {
	out := flag.String("configmaps", "", "write ConfigMap data entries to this directory")
	flag.Parse()
	bad := false
	for _, f := range flag.Args() {
		n, err := checkFile(f, *out)
		if err != nil {
			fmt.Fprintf(os.Stderr, "check: %s: %v\n", f, err)
			bad = true
			continue
		}
		fmt.Printf("check: %s: %d documents ok\n", f, n)
	}
	if bad || flag.NArg() == 0 {
		os.Exit(1)
	}
}

type doc = map[string]any

func checkFile(path, out string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	n := 0
	for {
		var d doc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return n, fmt.Errorf("document %d: %w", n+1, err)
		}
		if d == nil {
			continue
		}
		n++
		if err := checkDoc(d, out); err != nil {
			return n, fmt.Errorf("document %d (%v %v): %w", n, d["kind"], get(d, "metadata", "name"), err)
		}
	}
	if n == 0 {
		return 0, errors.New("no documents")
	}
	return n, nil
}

// get walks nested maps; nil when a key is missing.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

func list(v any, keys ...string) []any {
	l, _ := get(v, keys...).([]any)
	return l
}

func checkDoc(d doc, out string) error {
	for _, k := range [][]string{{"apiVersion"}, {"kind"}, {"metadata", "name"}} {
		if str(d, k...) == "" {
			return fmt.Errorf("missing %v", k)
		}
	}
	switch kind := str(d, "kind"); kind {
	case "Service":
		if len(list(d, "spec", "ports")) == 0 {
			return errors.New("spec.ports is empty")
		}
		if get(d, "spec", "selector") == nil {
			return errors.New("spec.selector is missing")
		}
	case "ConfigMap":
		data, ok := get(d, "data").(map[string]any)
		if !ok || len(data) == 0 {
			return errors.New("data is empty")
		}
		if out != "" {
			for k, v := range data {
				s, ok := v.(string)
				if !ok {
					return fmt.Errorf("data.%s is not a string", k)
				}
				if err := os.WriteFile(filepath.Join(out, k), []byte(s), 0o644); err != nil {
					return err
				}
			}
		}
	case "StatefulSet", "Deployment":
		if kind == "StatefulSet" && str(d, "spec", "serviceName") == "" {
			return errors.New("spec.serviceName is missing")
		}
		sel, _ := get(d, "spec", "selector", "matchLabels").(map[string]any)
		labels, _ := get(d, "spec", "template", "metadata", "labels").(map[string]any)
		if len(sel) == 0 {
			return errors.New("spec.selector.matchLabels is empty")
		}
		for k, v := range sel {
			if labels[k] != v {
				return fmt.Errorf("selector %s=%v does not match the pod template's labels", k, v)
			}
		}
		cs := list(d, "spec", "template", "spec", "containers")
		if len(cs) == 0 {
			return errors.New("spec.template.spec.containers is empty")
		}
		for _, c := range cs {
			if str(c, "name") == "" || str(c, "image") == "" {
				return errors.New("a container lacks name or image")
			}
			ports := map[any]bool{}
			for _, p := range list(c, "ports") {
				ports[get(p, "name")] = true
				ports[get(p, "containerPort")] = true
			}
			for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
				if p := get(c, probe, "httpGet", "port"); p != nil && !ports[p] {
					return fmt.Errorf("container %s: %s port %v is not a container port", str(c, "name"), probe, p)
				}
			}
			// Liveness must not hang on a dependency readiness watches:
			// the same httpGet for both restarts pods through an outage
			// of Redis (aggregator /healthz vs /readyz).
			live, ready := str(c, "livenessProbe", "httpGet", "path"), str(c, "readinessProbe", "httpGet", "path")
			if live != "" && live == ready {
				return fmt.Errorf("container %s: livenessProbe and readinessProbe both get %s", str(c, "name"), live)
			}
		}
	case "PodDisruptionBudget":
		if sel, _ := get(d, "spec", "selector", "matchLabels").(map[string]any); len(sel) == 0 {
			return errors.New("spec.selector.matchLabels is empty")
		}
		if (get(d, "spec", "maxUnavailable") == nil) == (get(d, "spec", "minAvailable") == nil) {
			return errors.New("spec needs exactly one of maxUnavailable and minAvailable")
		}
	}
	return nil
}
