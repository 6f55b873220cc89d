package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"authserver/config"
	"authserver/governance"
	"authserver/storage"
)

// service is what the operator commands that change organizations act
// through: the migrated database and the governance rules, so that the
// command line obeys exactly the rules the API and the console obey.
type service struct {
	cfg *config.Config
	st  *storage.SQLStore
	gov *governance.Service
}

// openService loads the configuration and opens the database, which must
// be migrated already (commands other than serve and migrate never change
// the schema). Close it when done.
func (a *app) openService(ctx context.Context) (*service, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	st, err := openMigrated(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	return &service{cfg: cfg, st: st, gov: newGovernance(cfg, st)}, nil
}

func (s *service) Close() error { return s.st.Close() }

// openOrg opens the service and finds the organization named name, for the
// commands that act in one; the caller closes the service.
func (a *app) openOrg(ctx context.Context, name string) (*service, *storage.Organization, error) {
	s, err := a.openService(ctx)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.org(ctx, name)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, o, nil
}

// newGovernance returns the governance rules over st. st may be a
// transaction: every change the Service makes then joins it.
func newGovernance(cfg *config.Config, st storage.Store) *governance.Service {
	return governance.New(governanceOptions(cfg, st))
}

// governanceOptions are the options of newGovernance, for a command that
// adds to them.
func governanceOptions(cfg *config.Config, st storage.Store) governance.Options {
	return governance.Options{
		Store:     storage.Narrow[governance.Tx](st),
		Catalog:   governance.NewCatalog(st, cfg.Issuer, time.Now),
		PATPrefix: cfg.Tokens.PATPrefix,
		// The server refuses to deliver where the CLI would add.
		WebhookPrivateNetworks: cfg.Events.Webhooks.PrivateNetworks,
	}
}

// org finds an organization by the name --org gives. Its refusal does not
// repeat the name: a value that matched nothing may be anything pasted
// into the wrong flag.
func (s *service) org(ctx context.Context, name string) (*storage.Organization, error) {
	o, err := s.gov.OrganizationByName(ctx, name)
	if governance.KindOf(err) == governance.NotFound {
		return nil, errors.New("--org: no organization has this name")
	}
	return o, err
}

// user finds a user of an organization by username.
func (s *service) user(ctx context.Context, o *storage.Organization, username string) (*storage.User, error) {
	u, err := s.gov.UserByName(ctx, governance.CLI(), o.ID, username)
	if governance.KindOf(err) == governance.NotFound {
		return nil, fmt.Errorf("no user %q in organization %q", username, o.Name)
	}
	return u, err
}

// flagError rewrites a governance refusal about a request field in the
// words of the command line, "--expires-at: must be in the future" rather
// than "expires_at: …": flags names the flag that set each field. Other
// errors are returned as they are.
func flagError(err error, flags map[string]string) error {
	var ge *governance.Error
	if !errors.As(err, &ge) || ge.Field == "" {
		return err
	}
	flag, ok := flags[ge.Field]
	if !ok {
		return err
	}
	return errors.New(flag + ": " + ge.Message)
}
