from study.contract.check_kit import contract_tests
test_contract = contract_tests("study_hgb:HistGradientBoostingAdapter")
