package aggregator

import (
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/edgepulse/edgepulse/aggregator/console"
	"github.com/edgepulse/edgepulse/aggregator/query"
)

func TestSecurityConfigValidate(t *testing.T) {
	no := false
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"leaf tls", func(c *Config) { c.NATS.LeafTLS = TLSConfig{CertFile: "c", KeyFile: "k", CAFile: "ca"} }, ""},
		{"leaf tls without key", func(c *Config) { c.NATS.LeafTLS = TLSConfig{CertFile: "c", CAFile: "ca"} }, "nats.leaf_tls.key_file"},
		{"leaf tls ca without cert", func(c *Config) { c.NATS.LeafTLS = TLSConfig{CAFile: "ca"} }, "nats.leaf_tls.cert_file"},
		{"leaf tls verify off", func(c *Config) { c.NATS.LeafTLS = TLSConfig{CertFile: "c", KeyFile: "k", Verify: &no} }, ""},
		{"cluster tls timeout", func(c *Config) {
			c.NATS.ClusterTLS = TLSConfig{CertFile: "c", KeyFile: "k", CAFile: "ca", Timeout: 1 << 62}
		}, "nats.cluster_tls.timeout"},
		{"sites", func(c *Config) {
			c.NATS.Sites = []SiteAuth{{Site: "s1", Password: "p"}, {Site: "s2", PasswordFile: "f"}}
		}, ""},
		{"site name", func(c *Config) { c.NATS.Sites = []SiteAuth{{Site: "s.1", Password: "p"}} }, "nats.sites[0].site"},
		{"site without password", func(c *Config) { c.NATS.Sites = []SiteAuth{{Site: "s1"}} }, "needs password"},
		{"site user twice", func(c *Config) {
			c.NATS.Sites = []SiteAuth{{Site: "s1", Password: "p"}, {Site: "s2", User: "s1", Password: "p"}}
		}, "nats.sites[1].user"},
		{"site as admin", func(c *Config) { c.NATS.Sites = []SiteAuth{{Site: "aggregator", Password: "p"}} }, "reserved"},
		{"template without publish", func(c *Config) {
			c.NATS.Sites = []SiteAuth{{Site: "s1", Password: "p"}}
			c.NATS.SitePermissions = PermissionTemplate{Subscribe: []string{"x"}}
		}, "site_permissions.publish"},
		{"template bad placeholder", func(c *Config) {
			c.NATS.Sites = []SiteAuth{{Site: "s1", Password: "p"}}
			c.NATS.SitePermissions = PermissionTemplate{Publish: []string{"tele.{host}.>"}}
		}, "placeholder"},
		{"batch limits", func(c *Config) { c.Batches.MaxLabels = 1000 }, "batches.max_labels"},
		{"query limits", func(c *Config) { c.Limits.MaxMatchers = -1 }, "limits.max_matchers"},
		{"short token", func(c *Config) { c.Auth = query.Auth{BearerToken: "abc"} }, "bearer_token"},
		{"redis prefix", func(c *Config) { c.Redis.Prefix = "a b" }, "prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Name = "agg-1"
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestHubUsers: one leaf-only user per site with the template expanded
// for that site and nothing of another's, plus the admin user.
func TestHubUsers(t *testing.T) {
	users, admin, err := hubUsers(HubConfig{Sites: []SiteAuth{{Site: "s1", Password: "p1"}, {Site: "s2", User: "gw2", Password: "p2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 3 || users[0].Username != AdminUser || users[0].Password != admin || len(admin) < 16 {
		t.Fatalf("users %+v admin %q", users, admin)
	}
	for _, u := range users[1:] {
		site := map[string]string{"s1": "s1", "gw2": "s2"}[u.Username]
		other := map[string]string{"s1": "s2", "s2": "s1"}[site]
		if _, ok := u.AllowedConnectionTypes["LEAFNODE"]; !ok || len(u.AllowedConnectionTypes) != 1 {
			t.Errorf("%s: connection types %v, want LEAFNODE only", u.Username, u.AllowedConnectionTypes)
		}
		all := append(slices.Clone(u.Permissions.Publish.Allow), u.Permissions.Subscribe.Allow...)
		if !slices.Contains(u.Permissions.Publish.Allow, "tele."+site+".>") || !slices.Contains(u.Permissions.Subscribe.Allow, "alerts."+site+".>") {
			t.Errorf("%s: permissions %v lack its own site's subjects", u.Username, all)
		}
		for _, s := range all {
			// The consoles' notices (windows and incidents of every site)
			// stay among the aggregators: a site neither forges nor reads them.
			if server.SubjectsCollide(s, console.NoticeSubject) {
				t.Errorf("%s: permission %q lets the site reach %s", u.Username, s, console.NoticeSubject)
			}
			if strings.Contains(s, other) || strings.Contains(s, "{site}") || s == ">" || s == "tele.>" || s == "alerts.>" {
				t.Errorf("%s: permission %q reaches beyond site %s", u.Username, s, site)
			}
		}
	}
}
