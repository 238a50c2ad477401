package client

// DecodeFast is decodeFast, for the tests outside the package.
var DecodeFast = decodeFast

// ItemList is the answer of GET /v1/items, for the tests outside the package.
type ItemList = itemList

// DecodePageInto decodes body, an answer of GET /v1/items, as GetManyInto
// decodes it into dst.
func DecodePageInto(body []byte, dst []Item) ([]Item, error) {
	out := pageInto{items: dst}
	err := decodeAnswer(body, &out)
	return out.items, err
}
