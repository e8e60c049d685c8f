# Install rules and the package config: filled in below.
