package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/fhirkit/smart/handlers"
)

// loadOrCreateKeys reads the signing keys from a PEM file, making and
// saving a development set on first start so tokens survive a restart.
// An empty path keeps fresh keys in memory only.
func loadOrCreateKeys(path string) ([]handlers.SigningKey, error) {
	if path == "" {
		return handlers.GenerateDevKeys()
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		keys, err := handlers.GenerateDevKeys()
		if err != nil {
			return nil, err
		}
		return keys, saveKeys(path, keys)
	}
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return parseKeys(path, data)
}

func saveKeys(path string, keys []handlers.SigningKey) error {
	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
		if err != nil {
			return fmt.Errorf("encode key %s: %w", k.ID, err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{
			Type:    "PRIVATE KEY",
			Headers: map[string]string{"Key-Id": k.ID, "Algorithm": k.Algorithm},
			Bytes:   der,
		})...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return fmt.Errorf("save keys: %w", err)
	}
	return nil
}

func parseKeys(path string, data []byte) ([]handlers.SigningKey, error) {
	var keys []handlers.SigningKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", path, b.Headers["Key-Id"], err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: key %q cannot sign", path, b.Headers["Key-Id"])
		}
		keys = append(keys, handlers.SigningKey{ID: b.Headers["Key-Id"], Algorithm: b.Headers["Algorithm"], Signer: signer})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no PEM private keys", path)
	}
	return keys, nil
}
