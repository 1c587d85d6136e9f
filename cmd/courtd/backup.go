package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/court/witness"
)

// Backup, restore and quorum-loss recovery (docs/backup.md).

func backupCmd() *cobra.Command {
	var server, out, caFile, certFile, verify, config string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Save a hot, consistent copy of a running node's ledger (or --verify one)",
		Long: `backup asks a running node (--server, as an admin: --cert) for a consistent
copy of its ledger file while it keeps serving, and writes it to --out with
its manifest beside it (--out.json: court, SM3 of the bytes, tree size, the
signed head it contains). The file is written to a temporary name, synced
and renamed, so --out is whole or absent.

backup --verify FILE --config node.yaml checks a backup offline: its bytes
against the manifest's SM3, that it is a sound ledger of the court, and that
its newest head is signed by the court's key and has the file's root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if verify != "" {
				m, keys, err := backupToCheck(verify, config)
				if err != nil {
					return err
				}
				if err := consensus.VerifyBackup(verify, m, keys); err != nil {
					return err
				}
				return report(cmd, m, fmt.Sprintf("%s: a sound backup of %s, %d entries, SM3 %s", verify, m.Court, m.Size, m.SM3))
			}
			if server == "" || out == "" || caFile == "" || certFile == "" {
				return fmt.Errorf("%w: backup needs --server, --out, --ca-file and --cert (an admin's certificate and key), or --verify FILE", errUsage)
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists; choose another --out (a backup never overwrites one)", out)
			}
			dial, err := client.DialTLS(client.TLSFiles{CAFile: caFile, CertFile: certFile})
			if err != nil {
				return err
			}
			m, err := fetchBackup(cmd.Context(), server, out, dial)
			if err != nil {
				return err
			}
			return report(cmd, m, fmt.Sprintf("backup of %s (%d entries, %d bytes) in %s, SM3 %s; manifest %s.json", m.Court, m.Size, m.Bytes, out, m.SM3, out))
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "the node's gRPC address")
	f.StringVar(&out, "out", "", "the backup file to write (its manifest goes to FILE.json)")
	f.StringVar(&caFile, "ca-file", "", "CA certificate of the court's nodes")
	f.StringVar(&certFile, "cert", "", "an admin's certificate and key, PEM")
	f.StringVar(&verify, "verify", "", "check this backup file offline instead (with --config)")
	f.StringVar(&config, "config", "", "with --verify: a node.yaml of the court, for its keys")
	return cmd
}

// fetchBackup streams the backup into out (through a temporary file) and
// writes the manifest; the bytes are checked against the manifest first.
func fetchBackup(ctx context.Context, server, out string, dial grpc.DialOption) (consensus.BackupManifest, error) {
	var m consensus.BackupManifest
	if ctx == nil {
		ctx = context.Background()
	}
	cc, err := grpc.NewClient(server, dial)
	if err != nil {
		return m, err
	}
	defer cc.Close()
	stream, err := pb.NewBackupServiceClient(cc).Backup(ctx, &pb.BackupRequest{})
	if err != nil {
		return m, err
	}
	tmp := out + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return m, err
	}
	defer os.Remove(tmp)
	var manifest []byte
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return m, fmt.Errorf("backup from %s: %w", server, err)
		}
		if len(chunk.Manifest) > 0 {
			manifest = chunk.Manifest
			continue
		}
		if _, err := f.Write(chunk.Data); err != nil {
			f.Close()
			return m, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return m, err
	}
	if err := f.Close(); err != nil {
		return m, err
	}
	if manifest == nil {
		return m, fmt.Errorf("backup from %s ended without its manifest: the copy is incomplete", server)
	}
	if m, err = consensus.ParseBackupManifest(manifest); err != nil {
		return m, err
	}
	if err := consensus.CheckBackupBytes(tmp, m); err != nil {
		return m, err
	}
	if err := os.WriteFile(out+".json", append(manifest, '\n'), 0o600); err != nil {
		return m, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return m, err
	}
	d, err := os.Open(filepath.Dir(out))
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	return m, err
}

// backupToCheck reads FILE.json and the court's keys from a node.yaml.
func backupToCheck(file, config string) (consensus.BackupManifest, []note.Verifier, error) {
	var m consensus.BackupManifest
	if config == "" {
		return m, nil, fmt.Errorf("%w: --config node.yaml is needed, for the court's keys", errUsage)
	}
	raw, err := os.ReadFile(file + ".json")
	if err != nil {
		return m, nil, fmt.Errorf("the backup's manifest: %w", err)
	}
	if m, err = consensus.ParseBackupManifest(raw); err != nil {
		return m, nil, err
	}
	cfg, err := nodeConfig(config)
	if err != nil {
		return m, nil, err
	}
	keys, err := courtVerifiers(cfg)
	return m, keys, err
}

func nodeConfig(path string) (court.Config, error) {
	fc, err := court.LoadConfig(path, nil)
	if err != nil {
		return court.Config{}, err
	}
	return fc.NodeConfig(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// courtVerifiers are the court's own keys, checked as the node checks
// them (witness.NewCourts: none missing, none twice).
func courtVerifiers(cfg court.Config) ([]note.Verifier, error) {
	courts, err := witness.NewCourts(cfg.Court, cfg.OwnKeys(), nil)
	if err != nil {
		return nil, err
	}
	return courts.OwnVerifiers(), nil
}

func restoreCmd() *cobra.Command {
	var from, config string
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Seed a stopped node's data directory from a backup (a new court of one node)",
		Long: `restore checks the backup (--from FILE, with FILE.json) against the court's
keys in --config, and writes it into the node's data directory as a court
of this one node; other nodes then join with evidencectl node add and catch
up from it. It refuses a backup of another court, a damaged one, a data
directory that holds Raft state (a replaced node catches up from its court
instead: start it empty and add it), and one whose ledger has signed more
than the backup or another history.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || config == "" {
				return fmt.Errorf("%w: restore needs --from FILE and --config node.yaml", errUsage)
			}
			m, keys, err := backupToCheck(from, config)
			if err != nil {
				return err
			}
			cfg, err := nodeConfig(config)
			if err != nil {
				return err
			}
			if err := consensus.RestoreBackup(consensus.RestoreConfig{From: from, Manifest: m, CourtKeys: keys, Dir: cfg.DataDir,
				Self: consensus.Server{ID: cfg.NodeID, Address: cfg.RaftAddr}}); err != nil {
				return err
			}
			return report(cmd, m, fmt.Sprintf("restored %s's ledger (%d entries) into %s as a court of node %s alone; start it, then add the other nodes",
				m.Court, m.Size, cfg.DataDir, cfg.NodeID))
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the backup file (its manifest is FILE.json)")
	cmd.Flags().StringVar(&config, "config", "", "the node's node.yaml")
	return cmd
}

func recoverCmd() *cobra.Command {
	var config, peers string
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Make a stopped survivor of a lost majority a court again (Raft RecoverCluster)",
		Long: `recover is for a court that lost a majority of its nodes for good. On the
stopped survivor, it rewrites the Raft membership to the survivor alone (or
to --peers, a JSON list of {"id","address"}), keeping every entry its log
holds. Start it afterwards, then add new nodes with evidencectl node add.
Every other node of the old membership must stay stopped and be wiped
before it rejoins: started with its old data it could form a second court.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return fmt.Errorf("%w: recover needs --config node.yaml (the survivor's)", errUsage)
			}
			cfg, err := nodeConfig(config)
			if err != nil {
				return err
			}
			servers := []consensus.Server{{ID: cfg.NodeID, Address: cfg.RaftAddr}}
			if peers != "" {
				raw, err := os.ReadFile(peers)
				if err != nil {
					return err
				}
				var list []struct{ ID, Address string }
				if err := json.Unmarshal(raw, &list); err != nil {
					return fmt.Errorf("%w: --peers %s: %v (want [{\"id\": \"hz-1\", \"address\": \"10.0.0.1:7100\"}, ...])", errUsage, peers, err)
				}
				servers = servers[:0]
				for _, p := range list {
					servers = append(servers, consensus.Server{ID: p.ID, Address: p.Address})
				}
			}
			start := time.Now()
			if err := consensus.RecoverCluster(consensus.RecoverConfig{Dir: cfg.DataDir, Court: cfg.Court, NodeID: cfg.NodeID,
				Servers: servers, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}); err != nil {
				return err
			}
			msg := fmt.Sprintf("node %s's data directory %s now holds a court of %d node(s) (%v); start it", cfg.NodeID, cfg.DataDir, len(servers), time.Since(start).Round(time.Millisecond))
			if jsonOutput(cmd) {
				return printJSON(cmd, map[string]any{"node": cfg.NodeID, "data_dir": cfg.DataDir, "servers": servers})
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "the survivor's node.yaml")
	cmd.Flags().StringVar(&peers, "peers", "", "the new membership, JSON [{\"id\",\"address\"}] (default: the survivor alone)")
	return cmd
}

func report(cmd *cobra.Command, m consensus.BackupManifest, text string) error {
	if jsonOutput(cmd) {
		return printJSON(cmd, m)
	}
	fmt.Fprintln(cmd.OutOrStdout(), text)
	return nil
}
