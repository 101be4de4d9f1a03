
Î

shop.protocutover.lab.v1" 
GetItemRequest
id (	Rid"(
ListItemsRequest
count (Rcount"K
Item
id (	Rid
name (	Rname
price_cents (R
priceCents2Ž
Shop?
GetItem.cutover.lab.v1.GetItemRequest.cutover.lab.v1.ItemE
	ListItems .cutover.lab.v1.ListItemsRequest.cutover.lab.v1.Item0bproto3