"""Units and their tree, accounts, who opens whom, SMS codes and their backends."""
