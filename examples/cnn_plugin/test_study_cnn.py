from study.testing import contract_tests
test_contract = contract_tests("study_cnn:TinyCNNAdapter")
