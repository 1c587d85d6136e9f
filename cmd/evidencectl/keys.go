package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

func keygenCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen PREFIX",
		Short: "Make an SM2 key pair: PREFIX.key.pem (PKCS#8) and PREFIX.pub.pem (SubjectPublicKeyInfo)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			priv, pub := args[0]+".key.pem", args[0]+".pub.pem"
			k, err := sm2.GenerateKey()
			if err != nil {
				return err
			}
			kp, err := k.MarshalPEM()
			if err != nil {
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			if err := writeFile(priv, kp, flags, 0o600); err != nil {
				return err
			}
			if err := writeFile(pub, k.Public().MarshalPEM(), flags, 0o644); err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"private_key": priv, "public_key": pub})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private key: %s (keep it secret)\npublic key:  %s\n", priv, pub)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing key files")
	return cmd
}

func writeFile(name string, data []byte, flags int, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, flags, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w (use --force to overwrite)", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}

func fingerprintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "fingerprint FILE...",
		Short: "Print the SM3 fingerprint of each file, as a court records it",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type result struct {
				File        string `json:"file"`
				Fingerprint string `json:"fingerprint"`
				Bytes       int64  `json:"bytes"`
			}
			var results []result
			for _, name := range args {
				d, n, err := fingerprintFile(name)
				if err != nil {
					return err
				}
				results = append(results, result{name, fmt.Sprintf("%x", d), n})
			}
			if jsonOutput(cmd) {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(results)
			}
			for _, r := range results {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s (%d bytes)\n", r.Fingerprint, r.File, r.Bytes)
			}
			return nil
		},
	}
}

func fingerprintFile(name string) (sm3.Digest, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return sm3.Digest{}, 0, err
	}
	defer f.Close()
	d, n, err := sm3.SumReader(f, 0, nil)
	if err != nil {
		return sm3.Digest{}, 0, fmt.Errorf("fingerprint %s: %w", name, err)
	}
	return d, n, nil
}
