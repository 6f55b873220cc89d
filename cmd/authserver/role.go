package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"authserver/governance"
	"authserver/internal/names"
	"authserver/storage"
)

func (a *app) roleCommand() *cobra.Command {
	return group("role", "Manage an organization's roles and who holds them",
		a.roleListCommand(), a.roleCreateCommand(), a.roleDeleteCommand(), a.roleAssignCommand(), a.roleUnassignCommand())
}

// roleFlags maps governance's field names to the role commands' flags.
var roleFlags = map[string]string{"name": "--name", "permissions": "--permissions", "folder": "--folder"}

// findRole finds a role of o by name; a name that matches none is not
// repeated.
func findRole(ctx context.Context, s *service, o *storage.Organization, name string) (*governance.RoleSummary, error) {
	r, err := s.gov.RoleByName(ctx, governance.CLI(), o.ID, name)
	if governance.KindOf(err) == governance.NotFound {
		return nil, errors.New("--role: the organization has no role with this name")
	}
	return r, err
}

// findUser finds a user of o by username; a name that matches none is
// not repeated.
func findUser(ctx context.Context, s *service, o *storage.Organization, username string) (*storage.User, error) {
	u, err := s.gov.UserByName(ctx, governance.CLI(), o.ID, username)
	if governance.KindOf(err) == governance.NotFound {
		return nil, errors.New("--user: the organization has no user with this username")
	}
	return u, err
}

// checkFolder refuses a --folder value that is no folder path, before
// anything is looked up, without repeating it.
func checkFolder(folder string) error {
	if !names.ValidFolder(folder) {
		return errors.New(`--folder: must be empty (organization-wide) or names joined by "/", such as Finance/Invoices, without control characters`)
	}
	return nil
}

// where says where an assignment holds.
func where(folder string) string {
	if folder == "" {
		return "organization-wide"
	}
	return "at folder " + folder
}

func (a *app) roleListCommand() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List an organization's roles with their permissions and number of assignments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			roles, err := s.gov.RoleSummaries(ctx, governance.CLI(), o.ID)
			if err != nil {
				return err
			}
			if len(roles) == 0 {
				fmt.Fprintf(a.stderr, "organization %s has no roles\n", o.Name)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tASSIGNMENTS\tPERMISSIONS")
			for _, r := range roles {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", r.Name, r.Assignments, strings.Join(r.Permissions, " "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

func (a *app) roleCreateCommand() *cobra.Command {
	var org, name, perms string
	cmd := &cobra.Command{
		Use:   `create --org ORG --name NAME --permissions "A.B C.D"`,
		Short: "Create a role",
		Long: `Create a role, under the same rules as the console and the API: a unique name in the
organization, and permissions that some audience understands — scopes of the catalogue,
narrower rights under them (OR.Jobs.Read under OR.Jobs) or broader ones covering some.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			r, err := s.gov.CreateRole(ctx, governance.CLI(), o.ID, governance.RoleRequest{Name: name, Permissions: splitScopes(perms)})
			if err != nil {
				return flagError(err, roleFlags)
			}
			fmt.Fprintf(a.stdout, "created role %s (%s) with permissions %s\n", r.Name, r.ID, strings.Join(r.Permissions, " "))
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&name, "name", "", "role name, unique in the organization (required)")
	cmd.Flags().StringVar(&perms, "permissions", "", `permissions, separated by spaces or commas, e.g. "OR.Jobs OR.Folders.Read" (required)`)
	for _, f := range []string{"org", "name", "permissions"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func (a *app) roleDeleteCommand() *cobra.Command {
	var org, role string
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete --org ORG --role NAME [--yes]",
		Short: "Delete a role; one that is assigned only with --yes, and its assignments with it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			r, err := findRole(ctx, s, o, role)
			if err != nil {
				return err
			}
			err = s.gov.DeleteRole(ctx, governance.CLI(), o.ID, r.ID, yes)
			var ge *governance.Error
			if errors.As(err, &ge) && ge.Code == "role-assigned" {
				return fmt.Errorf("cannot delete role %s: %s with --yes", r.Name, ge.Message)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted role %s\n", r.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&role, "role", "", "name of the role (required)")
	cmd.Flags().BoolVar(&yes, "yes", false, "delete the role even when it is assigned, with its assignments")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

// assignmentFlags are the flags of role assign and role unassign.
type assignmentFlags struct{ org, user, role, folder string }

func (f *assignmentFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&f.user, "user", "", "username (required)")
	cmd.Flags().StringVar(&f.role, "role", "", "role name (required)")
	cmd.Flags().StringVar(&f.folder, "folder", "", `folder path such as Finance/Invoices; empty or absent: organization-wide`)
	for _, name := range []string{"org", "user", "role"} {
		_ = cmd.MarkFlagRequired(name)
	}
}

// resolve checks the folder and finds the organization, user and role.
func (a *app) resolve(ctx context.Context, f assignmentFlags) (*service, *storage.Organization, *storage.User, *governance.RoleSummary, error) {
	if err := checkFolder(f.folder); err != nil {
		return nil, nil, nil, nil, err
	}
	s, o, err := a.openOrg(ctx, f.org)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	u, err := findUser(ctx, s, o, f.user)
	if err == nil {
		var r *governance.RoleSummary
		if r, err = findRole(ctx, s, o, f.role); err == nil {
			return s, o, u, r, nil
		}
	}
	s.Close()
	return nil, nil, nil, nil, err
}

func (a *app) roleAssignCommand() *cobra.Command {
	var f assignmentFlags
	cmd := &cobra.Command{
		Use:   "assign --org ORG --user USER --role ROLE [--folder PATH]",
		Short: "Give a user a role, organization-wide or at a folder and below",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, u, r, err := a.resolve(ctx, f)
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.gov.CreateAssignment(ctx, governance.CLI(), o.ID, governance.AssignmentRequest{UserID: u.ID, RoleID: r.ID, Folder: f.folder})
			var ge *governance.Error
			if errors.As(err, &ge) && ge.Code == "assignment-exists" {
				return fmt.Errorf("user %s already holds role %s %s", u.Username, r.Name, where(f.folder))
			}
			if err != nil {
				return flagError(err, roleFlags)
			}
			fmt.Fprintf(a.stdout, "assigned role %s to user %s %s\n", r.Name, u.Username, where(f.folder))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) roleUnassignCommand() *cobra.Command {
	var f assignmentFlags
	cmd := &cobra.Command{
		Use:   "unassign --org ORG --user USER --role ROLE [--folder PATH]",
		Short: "Take a role from a user, at exactly the folder it was assigned at",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, u, r, err := a.resolve(ctx, f)
			if err != nil {
				return err
			}
			defer s.Close()
			list, err := s.gov.ListAssignments(ctx, governance.CLI(), o.ID, u.ID)
			if err != nil {
				return err
			}
			for _, x := range list {
				if x.RoleID != r.ID || x.Folder != f.folder {
					continue
				}
				err := s.gov.DeleteAssignment(ctx, governance.CLI(), o.ID, x.ID)
				if governance.KindOf(err) == governance.NotFound {
					break // removed meanwhile
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "user %s no longer holds role %s %s\n", u.Username, r.Name, where(f.folder))
				return nil
			}
			return fmt.Errorf("user %s does not hold role %s %s", u.Username, r.Name, where(f.folder))
		},
	}
	f.register(cmd)
	return cmd
}
