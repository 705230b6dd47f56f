// SPDX-License-Identifier: MIT
// A USDT-like token for anvil: 6 decimals and, like mainnet TetherToken, `transfer`,
// `transferFrom` and `approve` return NOTHING, so code that expects an ERC-20 bool breaks
// here exactly as it would against the real USDT. Only the minter (set at deployment) mints.
pragma solidity ^0.8.24;

contract TestUSDT {
    string public constant name = "Test Tether USD";
    string public constant symbol = "USDT";
    // TetherToken declares `uint public decimals`, so the ABI says uint256, not uint8.
    uint256 public constant decimals = 6;

    address public immutable minter;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    // The minter is an argument, not msg.sender: deployed through the CREATE2 factory,
    // msg.sender would be the factory.
    constructor(address minter_) {
        minter = minter_;
    }

    function transfer(address to, uint256 value) public {
        _move(msg.sender, to, value);
    }

    function transferFrom(address from, address to, uint256 value) public {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "allowance too low");
        if (allowed != type(uint256).max) {
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
    }

    function approve(address spender, uint256 value) public {
        // TetherToken's rule against the approve race: go through zero to change an allowance.
        require(value == 0 || allowance[msg.sender][spender] == 0, "reset allowance to 0 first");
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
    }

    function mint(address to, uint256 value) public {
        require(msg.sender == minter, "only the minter mints");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0), "transfer to the zero address");
        require(balanceOf[from] >= value, "balance too low");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
