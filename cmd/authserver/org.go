package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"authserver/governance"
	"authserver/internal/duration"
)

func (a *app) orgCommand() *cobra.Command {
	return group("org", "List organizations, change their PAT policy, manage their webhooks", a.orgListCommand(),
		a.orgSettingsCommand(), a.orgWebhookCommand())
}

func (a *app) orgListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every organization with its PAT policy and number of users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := a.openService(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			orgs, err := s.gov.Organizations(ctx, governance.CLI())
			if err != nil {
				return err
			}
			if len(orgs) == 0 {
				fmt.Fprintln(a.stderr, "there are no organizations")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPATS\tMAX LIFETIME\tUSERS")
			for _, o := range orgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", o.Name, enabled(o.PATsEnabled), lifetime(o.PATMaxLifetime), o.Users)
			}
			return tw.Flush()
		},
	}
}

func (a *app) orgSettingsCommand() *cobra.Command {
	var org, pats, maxLifetime, noticeDays, idle string
	cmd := &cobra.Command{
		Use:   "settings --org ORG [--pats-enabled=true|false] [--pat-max-lifetime 90d] [--expiry-notice-days 30,7,1] [--pat-idle-revoke-after 90d]",
		Short: "Show an organization's PAT policy, changing it first when asked",
		Long: `Show an organization's PAT policy: whether personal access tokens are enabled, their
maximum lifetime, the days before a PAT's end at which its owner is notified, and how
long a PAT may go unused before it is revoked. With any of the flags, change it first,
under the same rules as the console and the API (the change is audited), then show it.

Disabling PATs stops every PAT of the organization at its next use; a lower maximum
lifetime also ends existing PATs older than it. --pat-max-lifetime 0 removes the limit.
--expiry-notice-days takes up to 5 whole days from 1 to 365, comma-separated; "none"
turns the notices off. --pat-idle-revoke-after 0 never revokes; otherwise at least 1d.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Both flags are read before the database is opened, and their
			// refusals do not repeat the value.
			var setPATs *bool
			if cmd.Flags().Changed("pats-enabled") {
				v, err := strconv.ParseBool(pats)
				if err != nil {
					return errors.New("--pats-enabled: must be true or false")
				}
				setPATs = &v
			}
			var setMax *string
			if cmd.Flags().Changed("pat-max-lifetime") {
				setMax = &maxLifetime
			}
			var setDays []int
			if cmd.Flags().Changed("expiry-notice-days") {
				d, err := parseDays(noticeDays)
				if err != nil {
					return err
				}
				setDays = d
			}
			var setIdle *time.Duration
			if cmd.Flags().Changed("pat-idle-revoke-after") {
				d, err := duration.Parse(idle)
				if err != nil {
					return errors.New("--pat-idle-revoke-after: must be a duration such as 90d or 2160h, or 0 for never")
				}
				setIdle = &d
			}
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			cur, err := s.gov.Settings(ctx, governance.CLI(), o.ID)
			if err != nil {
				return err
			}
			if setPATs != nil || setMax != nil || setDays != nil || setIdle != nil {
				next := *cur
				next.ExpiryNoticeDays = setDays // nil keeps them
				if setIdle != nil {
					next.PATIdleRevokeAfter = *setIdle
				}
				if setPATs != nil {
					next.PATsEnabled = *setPATs
				}
				if setMax != nil {
					d, err := duration.Parse(*setMax)
					if err != nil {
						return errors.New("--pat-max-lifetime: must be a duration such as 90d or 720h, or 0 for no limit")
					}
					next.PATMaxLifetime = d
				}
				if cur, err = s.gov.UpdateSettings(ctx, governance.CLI(), o.ID, next); err != nil {
					return flagError(err, map[string]string{"pat_max_lifetime": "--pat-max-lifetime",
						"expiry_notice_days": "--expiry-notice-days", "pat_idle_revoke_after": "--pat-idle-revoke-after"})
				}
			}
			return writeSettings(a.stdout, o.Name, cur)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&pats, "pats-enabled", "", "enable (true) or disable (false) personal access tokens")
	cmd.Flags().Lookup("pats-enabled").NoOptDefVal = "true"
	cmd.Flags().StringVar(&maxLifetime, "pat-max-lifetime", "", "maximum PAT lifetime, e.g. 90d or 720h; 0 for no limit")
	cmd.Flags().StringVar(&noticeDays, "expiry-notice-days", "", `days before a PAT's end to notify its owner, e.g. 30,7,1; "none" for no notices`)
	cmd.Flags().StringVar(&idle, "pat-idle-revoke-after", "", "revoke PATs unused for this long, e.g. 90d; 0 for never")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

// writeSettings prints an organization's policy, one "key: value" a line.
func writeSettings(w io.Writer, org string, s *governance.Settings) error {
	_, err := fmt.Fprintf(w, "organization: %s\npats_enabled: %t\npat_max_lifetime: %s\n", org, s.PATsEnabled, maxLifetimeSetting(s.PATMaxLifetime))
	if err != nil {
		return err
	}
	idle := "0 (never)"
	if s.PATIdleRevokeAfter > 0 {
		idle = duration.Format(s.PATIdleRevokeAfter)
	}
	_, err = fmt.Fprintf(w, "expiry_notice_days: %s\npat_idle_revoke_after: %s\n", formatDays(s.ExpiryNoticeDays), idle)
	return err
}

// parseDays reads --expiry-notice-days: whole days separated by commas,
// or "none" (or "") for no notices. governance checks the rule; this only
// reads numbers, and its refusal does not repeat the value.
func parseDays(v string) ([]int, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "none" {
		return []int{}, nil
	}
	parts := strings.Split(v, ",")
	days := make([]int, 0, len(parts))
	for _, p := range parts {
		d, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, errors.New(`--expiry-notice-days: must be whole days separated by commas, such as 30,7,1, or "none"`)
		}
		days = append(days, d)
	}
	return days, nil
}

// formatDays shows expiry notice days as --expiry-notice-days takes them.
func formatDays(days []int) string {
	if len(days) == 0 {
		return "none"
	}
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, ",")
}

func enabled(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

// lifetime shows a maximum lifetime; 0 is "none" (no limit).
func lifetime(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return duration.Format(d)
}

// maxLifetimeSetting shows a maximum lifetime as --pat-max-lifetime takes
// it, "0" meaning no limit.
func maxLifetimeSetting(d time.Duration) string {
	if d == 0 {
		return "0 (no limit)"
	}
	return duration.Format(d)
}
