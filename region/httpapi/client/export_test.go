package client

// DecodeFast is decodeFast, for the tests outside the package.
var DecodeFast = decodeFast

// ItemList is the answer of GET /v1/items, for the tests outside the package.
type ItemList = itemList
