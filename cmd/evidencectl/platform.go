package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// credentialsHint says how a newly registered platform gets the
// credentials it calls the court with: registering its signing key does
// not let it connect (docs/api.md, "As an admin").
func credentialsHint(id string) string {
	return fmt.Sprintf(`next: give %[1]s its credentials to call the court, one of:
  a client certificate with identity platform/%[1]s from the court's CA
    (development CA: courtd devca --dir PKI_DIR platform/%[1]s; production: your PKI, URI SAN as in docs/security.md)
  a bearer token: courtd token platform %[1]s, and add the printed config line to every node's tokens`, id)
}

func platformCmd(r *remote) *cobra.Command {
	var pubFile string
	cmd := &cobra.Command{Use: "platform", Short: "Register, revoke and list platforms' SM2 keys"}
	reg := &cobra.Command{
		Use: "register PLATFORM_ID", Short: "Register a platform's public key; prints the platform and how to issue its credentials", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pemBytes, err := os.ReadFile(pubFile)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			resp, err := call(r, func(ctx context.Context, c *client.Client) (*pb.RegisterPlatformResponse, error) {
				return c.Admin().RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: args[0], PublicKeyPem: string(pemBytes)})
			})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), resp.Platform)
			}
			printPlatforms(cmd.OutOrStdout(), resp.Platform)
			fmt.Fprintln(cmd.OutOrStdout(), credentialsHint(args[0]))
			return nil
		},
	}
	reg.Flags().StringVar(&pubFile, "public-key", "", "the platform's SM2 public key (PEM)")
	reg.MarkFlagRequired("public-key")
	revoke := &cobra.Command{
		Use: "revoke PLATFORM_ID", Short: "Stop accepting a platform's submissions; prints the platform, now revoked", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := call(r, func(ctx context.Context, c *client.Client) (*pb.Platform, error) {
				if _, err := c.Admin().RevokePlatform(ctx, &pb.RevokePlatformRequest{PlatformId: args[0]}); err != nil {
					return nil, err
				}
				// The answer is empty: show the platform's state as the
				// court now has it. The node that answers the list may not
				// have applied the revocation yet: ask again for a moment.
				for deadline := time.Now().Add(3 * time.Second); ; {
					list, err := c.Admin().ListPlatforms(ctx, &pb.ListPlatformsRequest{})
					if err != nil {
						return nil, err
					}
					i := slices.IndexFunc(list.Platforms, func(p *pb.Platform) bool { return p.PlatformId == args[0] })
					switch {
					case i < 0:
						return nil, fmt.Errorf("platform %s was revoked but is not listed", args[0])
					case list.Platforms[i].Revoked:
						return list.Platforms[i], nil
					case time.Now().After(deadline):
						return nil, fmt.Errorf("platform %s: the court took the revocation, but the node asked still lists the platform as active; check again with platform list", args[0])
					}
					select {
					case <-ctx.Done():
						return list.Platforms[i], nil
					case <-time.After(100 * time.Millisecond):
					}
				}
			})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), p)
			}
			printPlatforms(cmd.OutOrStdout(), p)
			return nil
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List registered platforms", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(r, func(ctx context.Context, c *client.Client) (*pb.ListPlatformsResponse, error) {
				return c.Admin().ListPlatforms(ctx, &pb.ListPlatformsRequest{})
			})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			if len(resp.Platforms) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no platform registered")
				return nil
			}
			printPlatforms(cmd.OutOrStdout(), resp.Platforms...)
			return nil
		},
	}
	cmd.AddCommand(reg, revoke, list)
	return cmd
}

// printPlatforms prints a table of platforms, times in RFC 3339.
func printPlatforms(w io.Writer, ps ...*pb.Platform) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tSTATE\tREGISTERED\tREVOKED")
	for _, p := range ps {
		state, revoked := "active", "-"
		if p.Revoked {
			state = "revoked"
			if p.RevokedAt != nil {
				revoked = p.RevokedAt.AsTime().Format(time.RFC3339)
			}
		}
		registered := "-"
		if p.RegisteredAt != nil {
			registered = p.RegisteredAt.AsTime().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.PlatformId, state, registered, revoked)
	}
	tw.Flush()
}
