package klicktipp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// XCI computes the X-Ci header of KlickTipp's partner authentication:
//
//	base64( HMAC-SHA256(key = hex-decode(developerKey), msg = customerKey) || customerKey )
//
// Both keys are trimmed of surrounding space; the developer key has every
// inner space removed too (as KlickTipp's official Go client does: keys are
// often pasted in groups) and is lower-cased before decoding. It fails when either key is empty or the
// developer key is not hex; the error never contains a key.
func XCI(developerKey, customerKey string) (string, error) {
	dk := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(developerKey), " ", ""))
	ck := strings.TrimSpace(customerKey)
	if dk == "" {
		return "", errors.New("klicktipp: DeveloperKey is empty")
	}
	if ck == "" {
		return "", errors.New("klicktipp: CustomerKey is empty")
	}
	key, err := hex.DecodeString(dk)
	if err != nil {
		return "", errors.New("klicktipp: DeveloperKey is not hex")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ck))
	sum := mac.Sum(nil)
	return base64.StdEncoding.EncodeToString(append(sum, ck...)), nil
}
