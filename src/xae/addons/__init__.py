"""Services (backing services): the add-on catalog. Empty until the add-ons issue lands."""
