// The whole program of a link check (CMakeLists.txt, hop_layer): nothing runs. Linking this
// with one library's every object and only its declared dependencies is the check.
int main() { return 0; }
