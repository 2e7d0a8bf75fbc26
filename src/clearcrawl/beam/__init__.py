"""The only package that imports apache_beam: options, DoFns, transforms, pipeline."""
