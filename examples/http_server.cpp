// Placeholder: replaced by the service's implementation.
int main() { return 2; }
