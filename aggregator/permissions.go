package aggregator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// SiteAuth is one site's leaf-node identity on the hub. Its permissions
// come from HubConfig.SitePermissions with {site} replaced by Site.
type SiteAuth struct {
	// Site is the site name: the <site> token of its subjects.
	Site string `yaml:"site"`
	// User is the leaf's user name; default Site.
	User string `yaml:"user"`
	// Password is the leaf's password, plain or a bcrypt hash ("$2a$…",
	// made with `nats server passwd`); or use PasswordFile.
	Password string `yaml:"password"`
	// PasswordFile holds the password (trailing newlines dropped).
	PasswordFile string `yaml:"password_file"`
}

// PermissionTemplate lists subjects, from the site leaf's point of view,
// with the placeholder {site}: Publish is what the site may send into the
// hub, Subscribe what it may receive from it. nats-server reverses them
// for the hub side of the leaf connection.
type PermissionTemplate struct {
	Publish   []string `yaml:"publish"`
	Subscribe []string `yaml:"subscribe"`
}

// DefaultSitePermissions is what a site needs and no more than its own
// site's subjects, except the shared reply and discovery spaces:
//
//   - publish tele.{site}.> — agents' JetStream publishes of batches
//     (not tele.{site}.*: nats-server then does not propagate the
//     stream's tele.*.* interest to the leaf, and every publish gets
//     "no responders"; the stream captures only tele.*.* anyway);
//   - publish _INBOX.> — replies: to the agent micro service's requests
//     (ep.agent…, $SRV…);
//   - publish ep.config.get.{site}.> — agents asking the aggregators for
//     their EP_CONFIG layers (docs/config-push.md; a site leaf without
//     JetStream passes no $JS/$KV subjects, so agents never touch the
//     bucket itself);
//   - publish ep.agent.{site}.> — agents reporting a rejected config push
//     on ep.agent.<site>.<host>.config.error;
//   - publish ep.time.{site}.> — agents asking the hub's time
//     (codec.TimeSubject) to measure their clock's offset;
//   - subscribe _INBOX.> — JetStream publish acks, KV watch deliveries
//     and request replies;
//   - subscribe alerts.{site}.>, ep.agent.{site}.> and $SRV.> — the
//     site's alerts, the agents' request-reply service and micro
//     discovery;
//   - subscribe ep.config.kv._all and ep.config.kv.{site}.> — change
//     notices of the config keys that concern the site's agents.
func DefaultSitePermissions() PermissionTemplate {
	return PermissionTemplate{
		Publish: []string{
			"tele.{site}.>",
			"_INBOX.>",
			"ep.config.get.{site}.>",
			"ep.agent.{site}.>",
			"ep.time.{site}.>",
		},
		Subscribe: []string{
			"_INBOX.>",
			"alerts.{site}.>",
			"ep.agent.{site}.>",
			"$SRV.>",
			"ep.config.kv._all",
			"ep.config.kv.{site}.>",
		},
	}
}

// Expand returns the template's permissions for site.
func (t PermissionTemplate) Expand(site string) *server.Permissions {
	sub := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = strings.ReplaceAll(s, "{site}", site)
		}
		return out
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: sub(t.Publish)},
		Subscribe: &server.SubjectPermission{Allow: sub(t.Subscribe)},
	}
}

// validate checks the template has subjects and only the {site} placeholder.
func (t PermissionTemplate) validate() error {
	if len(t.Publish) == 0 {
		return errors.New("config: nats.site_permissions.publish must list at least one subject")
	}
	for _, s := range append(append([]string(nil), t.Publish...), t.Subscribe...) {
		rest := strings.ReplaceAll(s, "{site}", "x")
		if rest == "" || strings.ContainsAny(rest, " \t{}") {
			return fmt.Errorf("config: nats.site_permissions subject %q must be a subject with at most the {site} placeholder", s)
		}
	}
	return nil
}

// AdminUser is the hub user of the aggregators themselves (everything
// allowed) when nats.sites turns on authentication.
const AdminUser = "aggregator"

// secret returns the value or the trimmed content of file.
func secret(value, file, field string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("config: set %s or %s_file, not both", field, field)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("config: %s_file: %w", field, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// hubUsers builds the hub's user table: the admin user and one leaf-only
// user per site. It returns the admin password (random when not set).
func hubUsers(c HubConfig) ([]*server.User, string, error) {
	admin, err := secret(c.AdminPassword, c.AdminPasswordFile, "nats.admin_password")
	if err != nil {
		return nil, "", err
	}
	if admin == "" {
		var b [16]byte
		rand.Read(b[:])
		admin = hex.EncodeToString(b[:])
	}
	tmpl := c.SitePermissions
	if len(tmpl.Publish) == 0 && len(tmpl.Subscribe) == 0 {
		tmpl = DefaultSitePermissions()
	}
	users := []*server.User{{Username: AdminUser, Password: admin}}
	for _, s := range c.Sites {
		pw, err := secret(s.Password, s.PasswordFile, "nats.sites["+s.Site+"].password")
		if err != nil {
			return nil, "", err
		}
		user := s.User
		if user == "" {
			user = s.Site
		}
		users = append(users, &server.User{
			Username:               user,
			Password:               pw,
			Permissions:            tmpl.Expand(s.Site),
			AllowedConnectionTypes: map[string]struct{}{"LEAFNODE": {}},
		})
	}
	return users, admin, nil
}

// validateSites checks the site identities and the template.
func (c HubConfig) validateSites() error {
	seen := make(map[string]bool)
	for i, s := range c.Sites {
		user := s.User
		if user == "" {
			user = s.Site
		}
		switch {
		case !validToken(s.Site):
			return fmt.Errorf("config: nats.sites[%d].site %q must be 1–64 letters, digits, '-' or '_'", i, s.Site)
		case user == AdminUser || seen[user]:
			return fmt.Errorf("config: nats.sites[%d].user %q is reserved or used twice", i, user)
		case s.Password == "" && s.PasswordFile == "":
			return fmt.Errorf("config: nats.sites[%d] (%s) needs password or password_file", i, s.Site)
		}
		seen[user] = true
	}
	if len(c.SitePermissions.Publish)+len(c.SitePermissions.Subscribe) > 0 {
		return c.SitePermissions.validate()
	}
	return nil
}
