"""Facts stage: everything rules may know about an image, derived from its merged filesystem."""
