"""Drop-in plugins. Imported as packages so that spawned worker processes can unpickle them."""
