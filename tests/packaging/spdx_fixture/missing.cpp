int missing;
