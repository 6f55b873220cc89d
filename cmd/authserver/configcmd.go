package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) configCommand() *cobra.Command {
	var connect bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration, reporting every problem at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if connect {
				st, err := openStore(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				st.Close()
			}
			fmt.Fprintln(a.stdout, "configuration OK")
			return nil
		},
	}
	check.Flags().BoolVar(&connect, "connect", false, "also connect to the configured database")
	return group("config", "Work with the configuration file", check)
}
