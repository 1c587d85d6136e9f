package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// keygenCmd makes a court signing key: the first one, or the next one in a
// rotation (docs/security.md, "Key rotation").
func keygenCmd() *cobra.Command {
	var courtID, passwordEnv string
	cmd := &cobra.Command{
		Use:   "keygen PREFIX",
		Short: "Make a court's SM2 signing key, its public key and its trust-file line",
		Long: `keygen writes PREFIX.key.pem (the private key, PKCS#8, mode 0600; encrypted
if --password-env names a variable holding a password) and PREFIX.pub.pem (the
public key, for the other courts' key_file/key_files and for this court's
previous_key_files once it has rotated), and prints the verifier key line
for trust files. It never overwrites a file.`,
		Example: `  courtd keygen --court hangzhou.court.example/evidence /etc/courtd/court-2027`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !evidence.ValidCourtID(courtID) {
				return fmt.Errorf("%w: --court %q is not a valid court ID", errUsage, courtID)
			}
			k, err := sm2.GenerateKey()
			if err != nil {
				return err
			}
			var priv []byte
			if passwordEnv != "" {
				password := os.Getenv(passwordEnv)
				if password == "" {
					return fmt.Errorf("%w: %s is empty", errUsage, passwordEnv)
				}
				priv, err = k.MarshalEncryptedPEM([]byte(password))
			} else {
				priv, err = k.MarshalPEM()
			}
			if err != nil {
				return err
			}
			v, err := checkpoint.NewVerifier(courtID, k.Public())
			if err != nil {
				return err
			}
			privFile, pubFile := args[0]+".key.pem", args[0]+".pub.pem"
			if err := createFile(privFile, priv, 0o600); err != nil {
				return err
			}
			if err := createFile(pubFile, k.Public().MarshalPEM(), 0o644); err != nil {
				return errors.Join(err, os.Remove(privFile))
			}
			if jsonOutput(cmd) {
				return printJSON(cmd, map[string]string{"court": courtID, "private_key": privFile, "public_key": pubFile, "trust_line": v.String()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private key: %s (mode 0600; court_key_file)\npublic key:  %s (key_files, previous_key_files)\ntrust line:  %s\n",
				privFile, pubFile, v)
			return nil
		},
	}
	cmd.Flags().StringVar(&courtID, "court", "", "the court ID the key signs for (required)")
	cmd.Flags().StringVar(&passwordEnv, "password-env", "", "encrypt the private key with the password in this environment variable")
	return cmd
}

// createFile writes a new file; an existing one is an error, since a key
// file overwritten by mistake cannot be recovered.
func createFile(name string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
