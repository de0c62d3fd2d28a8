package vault_test

import (
	"fmt"

	"crmsync/internal/vault"
)

// A master key is 32 bytes as hex or base64; records name it by its id,
// and printing it shows only that.
func ExampleParseMasterKey() {
	k, err := vault.ParseMasterKey("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	fmt.Println(err, len(k.ID()), k.String() == "master key "+k.ID())
	_, err = vault.ParseMasterKey("too-short")
	fmt.Println(err)
	// Output:
	// <nil> 12 true
	// must be 32 random bytes as 64 hex characters or standard base64 (openssl rand -hex 32)
}
