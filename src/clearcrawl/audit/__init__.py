"""Evidence from the ledger: manifest, verification, regulator and rights-holder exports."""
