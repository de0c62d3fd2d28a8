package jsonwalk_test

import (
	"fmt"

	"crmsync/internal/jsonwalk"
)

func Example() {
	obj := []byte(`{"id": 17, "na\u006de": "Ann", "tags": ["a", 2]}`)
	for m := jsonwalk.NewMembers(obj); ; {
		key, value, ok := m.Next()
		if !ok {
			break
		}
		fmt.Printf("%s = %s\n", jsonwalk.KeyText(key), value)
		if string(jsonwalk.KeyText(key)) == "tags" {
			for e := jsonwalk.NewElements(value); ; {
				el, ok := e.Next()
				if !ok {
					break
				}
				fmt.Printf("  element %s\n", el)
			}
		}
	}
	// Output:
	// id = 17
	// name = "Ann"
	// tags = ["a", 2]
	//   element "a"
	//   element 2
}
